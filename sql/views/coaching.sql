/*
 * Coaching OS rollups: habit streaks, this week's habit and goal completion, reflections.
 * Local dates use the student's effective timezone (dashboard.v_identity.timezone); "this week"
 * is the local ISO week (Monday to today).
 *
 * Written set-based, and keyed by student first (DISTINCT ON / GROUP BY lead with student_id):
 * a full refresh is one sorted pass over the logs, and a filter on one student (the live path,
 * dashboard.v_student_dashboard_live) is pushed down to index scans of that student's rows. A
 * per-habit lateral lookup cost 0.28 ms a habit here: 56 s for 200,000 habits.
 */

/* dashboard.v_habit_days: one resolved status per habit and local day: of several logs for one
   day the one logged last wins (ties: completed > skipped > missed, as dashboard.habit_streak). */
create view dashboard.v_habit_days as
select distinct on (l.student_id, l.habit_id, l.log_date)
       l.student_id as user_id, l.habit_id, l.log_date, l.status
  from staging.coaching_habit_logs l
 where l.deleted_at is null
 order by l.student_id, l.habit_id, l.log_date, l.logged_at desc nulls last,
          case l.status when 'completed' then 0 when 'skipped' then 1 else 2 end;
comment on view dashboard.v_habit_days is 'One status per habit and local day (the log recorded last wins).';

/* dashboard.v_habit_units: per habit, its units (days, or ISO-week Mondays for weekly habits)
   in order with their resolved status (a week's is the best of its days'), as two arrays. */
create view dashboard.v_habit_units as
select u.user_id, u.habit_id,
       array_agg(u.unit order by u.unit)   as units,
       array_agg(u.status order by u.unit) as statuses
  from (select d.user_id, d.habit_id,
               case when h.frequency = 'weekly' then date_trunc('week', d.log_date)::date
                    else d.log_date end as unit,
               (array_agg(d.status order by case d.status when 'completed' then 0
                                                          when 'skipped' then 1 else 2 end))[1] as status
          from dashboard.v_habit_days d
          -- on the student too: one student's query then reads their habits by index, not all
          join staging.coaching_habits h on h.id = d.habit_id and h.student_id = d.user_id
         group by d.user_id, d.habit_id, 3) u
 group by u.user_id, u.habit_id;
comment on view dashboard.v_habit_units is 'Each habit''s days (or weeks) with their resolved status, in order.';

/* dashboard.v_habit_streaks: current and longest streak per habit, as of dashboard.clock(),
   by dashboard.streak_walk (the rules are documented there and mirrored by clients/web/streak.js;
   units after today are ignored by it). */
create view dashboard.v_habit_streaks as
select h.student_id                       as user_id,
       h.id                               as habit_id,
       h.name,
       h.frequency,
       h.active,
       s.current_streak,
       s.longest_streak,
       s.at_risk
  from staging.coaching_habits h
  join dashboard.v_identity i on i.user_id = h.student_id
  left join dashboard.v_habit_units u on u.user_id = h.student_id and u.habit_id = h.id
  cross join lateral (
    select (dashboard.clock() at time zone i.timezone)::date as today,
           h.frequency = 'weekly'                            as weekly) t
  cross join lateral dashboard.streak_walk(
    coalesce(u.units, '{}'), coalesce(u.statuses, '{}'),
    case when t.weekly then date_trunc('week', t.today)::date else t.today end,
    case when t.weekly then 7 else 1 end) s
 where h.deleted_at is null;
comment on view dashboard.v_habit_streaks is 'Current and longest streak and at-risk flag per habit, as of now.';

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
  select hs.user_id,
         max(hs.current_streak) filter (where hs.frequency = 'daily') as current_streak,
         max(hs.longest_streak) filter (where hs.frequency = 'daily') as longest_streak,
         bool_or(hs.at_risk) filter (where hs.frequency = 'daily')    as streak_at_risk,
         count(*)::integer                                            as habits_active
    from dashboard.v_habit_streaks hs
   where hs.active
   group by hs.user_id
),
week_habits as (
  select h.student_id as user_id,
         round(100.0 * (count(d.habit_id) filter (where h.frequency = 'daily' and d.status = 'completed')
                        + count(distinct d.habit_id) filter (where h.frequency = 'weekly' and d.status = 'completed'))
               / nullif((min(c.today) - min(c.week_start) + 1) * count(distinct h.id) filter (where h.frequency = 'daily')
                        + count(distinct h.id) filter (where h.frequency = 'weekly'), 0), 2)
           as habit_completion_pct_week
    from staging.coaching_habits h
    join calendar c on c.user_id = h.student_id
    left join (select * from dashboard.v_habit_days
                where log_date >= (dashboard.clock() at time zone 'UTC')::date - 8) d  -- a week back, any zone
      on d.user_id = h.student_id and d.habit_id = h.id and d.log_date between c.week_start and c.today
   where h.active and h.deleted_at is null
   group by h.student_id
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
       w.habit_completion_pct_week,
       coalesce(g.goals_active, 0)          as goals_active,
       coalesce(g.goals_completed_today, 0) as goals_completed_today,
       coalesce(g.goals_completed_week, 0)  as goals_completed_week,
       g.goals_completed_pct_week,
       coalesce(r.reflections_7d, 0)        as reflections_7d
  from calendar c
  left join streaks s on s.user_id = c.user_id
  left join week_habits w on w.user_id = c.user_id
  left join goals g on g.user_id = c.user_id
  left join reflections r on r.user_id = c.user_id;
comment on view dashboard.v_coaching_summary is
  'Streaks (best over active daily habits), habit and goal completion % this week, reflections in 7 days.';
