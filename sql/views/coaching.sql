/*
 * Coaching OS rollups: habit streaks, this week's habit and goal completion, reflections.
 * Local dates use the student's effective timezone (dashboard.v_identity.timezone); "this week"
 * is the local ISO week (Monday to today).
 *
 * Streaks and this week's habit completions come from the kept habit histories
 * (dashboard.habit_history, sql/views/habit_history.sql), so a refresh reads one row per habit
 * instead of sorting every log. Goals and reflections are keyed by student first (GROUP BY leads
 * with student_id): a filter on one student (the live path, dashboard.v_student_dashboard_live)
 * is pushed down to index scans of that student's rows.
 */

/* dashboard.v_habit_streaks: current and longest streak, at-risk flag and completions this week
   per habit, as of dashboard.clock(): from dashboard.habit_history when it is for the student's
   local today, else walked now from its stored units. */
create view dashboard.v_habit_streaks as
select h.student_id                                             as user_id,
       h.id                                                     as habit_id,
       h.name,
       h.frequency,
       h.active,
       coalesce(w.current_streak, hh.current_streak, 0)         as current_streak,
       coalesce(w.longest_streak, hh.longest_streak, 0)         as longest_streak,
       coalesce(w.at_risk, hh.at_risk, false)                   as at_risk,
       coalesce(w.completed_week, hh.completed_week, 0)         as completed_week
  from staging.coaching_habits h
  join dashboard.v_identity i on i.user_id = h.student_id
  left join dashboard.habit_history hh on hh.habit_id = h.id and hh.user_id = h.student_id
  cross join lateral (
    select d.today, date_trunc('week', d.today)::date as week_start, h.frequency = 'weekly' as weekly
      from (select (dashboard.clock() at time zone i.timezone)::date as today) d) t
  -- walked only when the stored figures are not for today (a one-time filter: skipped otherwise)
  left join lateral (
    select s.current_streak, s.longest_streak, s.at_risk,
           dashboard.completed_units(hh.units, hh.statuses, t.week_start, t.today) as completed_week
      from dashboard.streak_walk(coalesce(hh.units, '{}'), coalesce(hh.statuses, '{}'),
                                 case when t.weekly then t.week_start else t.today end,
                                 case when t.weekly then 7 else 1 end) s
     where hh.as_of is not null and hh.as_of <> t.today
    offset 0) w on true   -- kept a subquery, so the condition gates it instead of filtering its rows
 where h.deleted_at is null;
comment on view dashboard.v_habit_streaks is
  'Current and longest streak, at-risk flag and completions this week per habit, as of now (from dashboard.habit_history).';

/*
 * dashboard.v_coaching_summary: one row per student.
 *   current_streak / longest_streak  best over the student's active daily habits
 *   streak_at_risk                   an active daily habit has a live streak and no log today
 *   habit_completion_pct_week        completed (habit, day) pairs this week / (active daily habits
 *                                    x days so far this week), weekly habits counting one expected
 *                                    completion per week; null without active habits
 *   goals_completed_pct_week         of the goals due this week (not abandoned), the share completed;
 *                                    null when none is due this week
 *   reflections_7d                   reflections written in the last 7 days
 */
create view dashboard.v_coaching_summary as
with calendar as not materialized (  -- inlined where used, so a filter on one student reaches it
  select i.user_id, t.timezone, t.today, t.week_start
    from dashboard.v_identity i
    -- "offset 0" keeps this a subquery evaluated once per student: inlined, the timezone lookup
    -- would run again for every log row compared with today (1 s for 500 students)
    cross join lateral (
      select i.timezone,
             (dashboard.clock() at time zone i.timezone)::date                            as today,
             date_trunc('week', (dashboard.clock() at time zone i.timezone)::date)::date  as week_start
      offset 0) t
),
streaks as (
  -- this week's completions: a daily habit counts its completed days, a weekly one its week
  select hs.user_id,
         max(hs.current_streak) filter (where hs.frequency = 'daily') as current_streak,
         max(hs.longest_streak) filter (where hs.frequency = 'daily') as longest_streak,
         bool_or(hs.at_risk) filter (where hs.frequency = 'daily')    as streak_at_risk,
         count(*)::integer                                            as habits_active,
         sum(hs.completed_week)                                       as completed_week,
         count(*) filter (where hs.frequency = 'daily')               as daily_habits,
         count(*) filter (where hs.frequency = 'weekly')              as weekly_habits
    from dashboard.v_habit_streaks hs
   where hs.active
   group by hs.user_id
),
goals as (
  select gl.student_id as user_id,
         (count(*) filter (where gl.status = 'active'))::integer as goals_active,
         (count(*) filter (where gl.status = 'completed'
                            and (gl.completed_at at time zone c.timezone)::date = c.today))::integer
           as goals_completed_today,
         (count(*) filter (where gl.status = 'completed'
                            and (gl.completed_at at time zone c.timezone)::date between c.week_start and c.today))::integer
           as goals_completed_week,
         round(100.0 * count(*) filter (where gl.status = 'completed' and gl.due_on between c.week_start and c.week_start + 6)
               / nullif(count(*) filter (where gl.status <> 'abandoned' and gl.due_on between c.week_start and c.week_start + 6), 0), 2)
           as goals_completed_pct_week
    from staging.coaching_goals gl
    join calendar c on c.user_id = gl.student_id
   where gl.deleted_at is null
   group by gl.student_id
),
reflections as (
  select rf.student_id as user_id, count(*)::integer as reflections_7d
    from staging.coaching_reflections rf
   where rf.deleted_at is null and rf.created_at > dashboard.clock() - interval '7 days'
   group by rf.student_id
)
select c.user_id,
       coalesce(s.current_streak, 0)        as current_streak,
       coalesce(s.longest_streak, 0)        as longest_streak,
       coalesce(s.streak_at_risk, false)    as streak_at_risk,
       coalesce(s.habits_active, 0)         as habits_active,
       round(100.0 * s.completed_week
             / nullif((c.today - c.week_start + 1) * s.daily_habits + s.weekly_habits, 0), 2)
                                            as habit_completion_pct_week,
       coalesce(g.goals_active, 0)          as goals_active,
       coalesce(g.goals_completed_today, 0) as goals_completed_today,
       coalesce(g.goals_completed_week, 0)  as goals_completed_week,
       g.goals_completed_pct_week,
       coalesce(r.reflections_7d, 0)        as reflections_7d
  from calendar c
  left join streaks s on s.user_id = c.user_id
  left join goals g on g.user_id = c.user_id
  left join reflections r on r.user_id = c.user_id;
comment on view dashboard.v_coaching_summary is
  'Streaks (best over active daily habits), habit and goal completion % this week, reflections in 7 days.';
