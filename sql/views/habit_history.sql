/*
 * Habit histories: each habit's log days resolved to one status per unit (day, or ISO week for
 * weekly habits), and its streaks and this week's completions as of the student's local today.
 *
 * The live views (v_habit_days, v_habit_day_series, v_habit_history) compute this from the staging
 * logs: one sorted pass over every log, 14 million rows at 100,000 students, which cost most of
 * a refresh cycle when done every cycle. dashboard.habit_history keeps their result and is
 * maintained incrementally:
 *   - by the cycle's step 'derive:dashboard.habit_history' (dashboard.derive_habit_history_step):
 *     students whose logs, habits or timezone a staging load changed (staging.student_changes)
 *     are recomputed from their logs; habits whose student's local day moved on since are
 *     walked again from the stored units (no log is read); everything when forced or empty;
 *   - for one student by dashboard.recompute_student, before their row is recomputed.
 * Readers (dashboard.v_habit_streaks) use the stored figures when they are for today and walk
 * the stored units otherwise, so a history is never read as of the wrong day.
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

/* dashboard.v_habit_day_series: per habit, its days in order with their resolved statuses, as
   two arrays: aggregated straight from v_habit_days in its order (an index-only scan, no sort). */
create view dashboard.v_habit_day_series as
select d.user_id, d.habit_id,
       array_agg(d.log_date order by d.log_date) as days,
       array_agg(d.status order by d.log_date)   as statuses
  from dashboard.v_habit_days d
 group by d.user_id, d.habit_id;
comment on view dashboard.v_habit_day_series is 'Each habit''s logged days with their resolved status, in order.';

/* dashboard.completed_units(units, statuses, from, to) -> completed units between from and to.
   The units ascend: the range is found by binary search (width_bucket counts the units <= a
   value), so only the week's few statuses are read, not a year of them. */
create or replace function dashboard.completed_units(p_units date[], p_statuses text[], p_from date, p_to date)
returns integer
language sql immutable parallel safe as $$
  select count(*)::integer
    from unnest(case when cardinality(p_units) > 0
                     then p_statuses[width_bucket(p_from - 1, p_units) + 1 : width_bucket(p_to, p_units)]
                end) s
   where s = 'completed'
$$;

/* dashboard.habit_history: per live habit of a live student, its units and statuses, and as of
   the student's local today (as_of): streaks by dashboard.streak_walk (the rules are documented
   there and mirrored by clients/web/streak.js) and the completed units of this local ISO week.
   Kept incrementally (see the top of this file); dashboard.v_habit_history computes it live. */
create table dashboard.habit_history (
  habit_id        uuid primary key,
  user_id         uuid not null,
  zone            text not null,      -- the student's timezone as identity has it ('' for none)
  weekly          boolean not null,
  units           date[] not null,
  statuses        text[] not null,
  as_of           date not null,
  current_streak  integer not null,
  longest_streak  integer not null,
  at_risk         boolean not null,
  completed_week  integer not null
) with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);
create index on dashboard.habit_history (user_id);
create index on dashboard.habit_history (zone, as_of);   -- the roll: a zone's histories not on its today
comment on table dashboard.habit_history is
  'Per habit: resolved units, streaks and completions this week as of the student''s local today (kept by the refresh cycle).';

/* dashboard.habit_history_of(users) -> the habit histories of these students (all when null),
   computed from the logs now. A function, not only a view, so the list of students reaches the
   scan of the logs: a filter "user_id = any(...)" on a view is not carried through its joins
   (one student's id is, a list is not), and 1,000 students would sort every log. */
create or replace function dashboard.habit_history_of(p_users uuid[]) returns setof dashboard.habit_history
language sql stable as $$
  select h.id, h.student_id, coalesce(i.timezone, ''), t.weekly,
         coalesce(un.units, '{}'), coalesce(un.statuses, '{}'),
         t.today, s.current_streak, s.longest_streak, s.at_risk,
         dashboard.completed_units(un.units, un.statuses, t.week_start, t.today)
    from staging.coaching_habits h
    join staging.identity_students i on i.id = h.student_id and i.deleted_at is null
    left join (select * from dashboard.v_habit_day_series v
                where p_users is null or v.user_id = any(p_users)) d
      on d.user_id = h.student_id and d.habit_id = h.id
    cross join lateral (
      select x.today, date_trunc('week', x.today)::date as week_start, h.frequency = 'weekly' as weekly
        from (select (dashboard.clock() at time zone dashboard.effective_timezone(i.timezone))::date as today) x) t
    -- units: the days, or for a weekly habit its ISO weeks (Mondays), a week's status the best of
    -- its days' (completed > skipped > anything else)
    left join lateral (
      select array_agg(w.week order by w.week) as units, array_agg(w.status order by w.week) as statuses
        from (select date_trunc('week', u.day)::date as week,
                     (array_agg(u.status order by case u.status when 'completed' then 0
                                                                 when 'skipped' then 1 else 2 end))[1] as status
                from unnest(d.days, d.statuses) u(day, status)
               group by 1) w
       where t.weekly
      offset 0) wk on true   -- a subquery gated by the frequency: daily habits never run it
    cross join lateral (select case when t.weekly then wk.units else d.days end as units,
                               case when t.weekly then wk.statuses else d.statuses end as statuses) un
    cross join lateral dashboard.streak_walk(
      coalesce(un.units, '{}'), coalesce(un.statuses, '{}'),
      case when t.weekly then t.week_start else t.today end,
      case when t.weekly then 7 else 1 end) s
   where h.deleted_at is null and (p_users is null or h.student_id = any(p_users))
$$;

/* dashboard.v_habit_history: dashboard.habit_history computed live from the logs. */
create view dashboard.v_habit_history as select * from dashboard.habit_history_of(null);
comment on view dashboard.v_habit_history is
  'dashboard.habit_history computed live from the logs (filter by user_id for one student).';

/* dashboard.v_habit_units: per habit, its units (days, or ISO-week Mondays for weekly habits)
   in order with their resolved status (a week's is the best of its days'), as two arrays. */
create view dashboard.v_habit_units as
select user_id, habit_id, units, statuses from dashboard.v_habit_history;
comment on view dashboard.v_habit_units is 'Each habit''s days (or weeks) with their resolved status, in order.';

/* dashboard.derive_habit_history(users) -> rows changed: the histories of these students (all
   when null) recomputed from their logs; only rows that differ are written (re-deriving an
   unchanged student writes nothing, so the readers' change marker stays put), and histories of
   habits that are gone are deleted. */
create or replace function dashboard.derive_habit_history(p_users uuid[] default null) returns bigint
language plpgsql
set plan_cache_mode = force_custom_plan   -- the list of students is planned in, for its index scans
set jit = off   -- compiling took 1.3 s of a 0.2 s derive for 200 students; a full one gains nothing
as $$
declare
  v_rows bigint;
begin
  with fresh as materialized (
    select * from dashboard.habit_history_of(p_users)
  ), up as (
    insert into dashboard.habit_history as t select * from fresh
    on conflict (habit_id) do update
       set user_id = excluded.user_id, zone = excluded.zone, weekly = excluded.weekly, units = excluded.units,
           statuses = excluded.statuses, as_of = excluded.as_of,
           current_streak = excluded.current_streak, longest_streak = excluded.longest_streak,
           at_risk = excluded.at_risk, completed_week = excluded.completed_week
     where (t.user_id, t.zone, t.weekly, t.units, t.statuses, t.as_of, t.current_streak, t.longest_streak,
            t.at_risk, t.completed_week)
           is distinct from
           (excluded.user_id, excluded.zone, excluded.weekly, excluded.units, excluded.statuses, excluded.as_of,
            excluded.current_streak, excluded.longest_streak, excluded.at_risk, excluded.completed_week)
    returning 1
  ), gone as (
    delete from dashboard.habit_history t
     where (p_users is null or t.user_id = any(p_users))
       and not exists (select from fresh f where f.habit_id = t.habit_id)
    returning 1
  )
  select (select count(*) from up) + (select count(*) from gone) into v_rows;
  return v_rows;
end $$;

/* dashboard.roll_habit_history() -> rows updated: histories whose as_of is before their
   student's local today walked again from the stored units (a local day or week started). */
create or replace function dashboard.roll_habit_history() returns bigint
language plpgsql as $$
declare
  v_rows bigint;
begin
  -- today per zone, then each zone's histories that are not on it (index on zone, as_of): a
  -- cycle in which no local day started reads 600 index ranges, not every history
  with zones as materialized (
    select z.zone, (dashboard.clock() at time zone dashboard.effective_timezone(z.zone))::date as today
      from (select distinct zone from dashboard.habit_history) z
  ), stale as (
    select hh.habit_id, c.today, date_trunc('week', c.today)::date as week_start
      from zones c
      join dashboard.habit_history hh on hh.zone = c.zone and (hh.as_of < c.today or hh.as_of > c.today)
  )
  update dashboard.habit_history hh
     set as_of = st.today,
         (current_streak, longest_streak, at_risk) =
           (select w.current_streak, w.longest_streak, w.at_risk
              from dashboard.streak_walk(hh.units, hh.statuses,
                                         case when hh.weekly then st.week_start else st.today end,
                                         case when hh.weekly then 7 else 1 end) w),
         completed_week = dashboard.completed_units(hh.units, hh.statuses, st.week_start, st.today)
    from stale st
   where st.habit_id = hh.habit_id;
  get diagnostics v_rows = row_count;
  return v_rows;
end $$;

/* dashboard.resolved_unit(user, habit, unit, weekly) -> the unit's status from the logs now: the
   day's (the log recorded last wins, ties to the best status, as dashboard.v_habit_days), or for
   a weekly habit the best of its days' (as dashboard.habit_history_of); no row without logs.
   A set-returning SQL function so that, called in FROM (a lateral join), the planner inlines it
   into the caller's plan: one index range per unit in the caller's nested loop. As a scalar
   call it ran as a function call per unit, 5.0 s for 97,000 changed units at 100,000 students
   against 1.1 s inlined. */
create or replace function dashboard.resolved_unit(p_user uuid, p_habit uuid, p_unit date, p_weekly boolean)
returns table (status text)
language sql stable rows 1 as $$
  select d.status
    from (select distinct on (l.log_date) l.log_date, l.status
            from staging.coaching_habit_logs l
           where l.student_id = p_user and l.habit_id = p_habit and l.deleted_at is null
             and l.log_date between p_unit and p_unit + case when p_weekly then 6 else 0 end
           order by l.log_date, l.logged_at desc nulls last,
                    case l.status when 'completed' then 0 when 'skipped' then 1 else 2 end) d
   order by case d.status when 'completed' then 0 when 'skipped' then 1 else 2 end
   limit 1
$$;

/* dashboard.splice_units(units, statuses, new_units, new_statuses) -> (units, statuses): the
   ascending units with each of new_units (ascending) set to its new status: replaced where the
   unit is there, inserted in order where it is not, removed where the new status is null.
   Binary search (width_bucket) and slices: a few microseconds for a year of days, where
   unnesting and aggregating them again cost 17 s for 100,000 histories. */
create or replace function dashboard.splice_units(p_units date[], p_statuses text[],
                                                  p_new_units date[], p_new_statuses text[],
                                                  out units date[], out statuses text[])
language plpgsql immutable parallel safe as $$
declare
  i integer;
  v_unit date;
  v_status text;
begin
  units := coalesce(p_units, '{}');
  statuses := coalesce(p_statuses, '{}');
  for k in 1 .. coalesce(cardinality(p_new_units), 0) loop
    v_unit := p_new_units[k];
    v_status := p_new_statuses[k];
    -- how many units are <= v_unit (they ascend)
    i := case when cardinality(units) = 0 then 0 else width_bucket(v_unit, units) end;
    if i > 0 and units[i] = v_unit then
      if v_status is null then
        units := units[1:i - 1] || units[i + 1:];
        statuses := statuses[1:i - 1] || statuses[i + 1:];
      else
        statuses[i] := v_status;
      end if;
    elsif v_status is not null then
      units := units[1:i] || v_unit || units[i + 1:];
      statuses := statuses[1:i] || v_status || statuses[i + 1:];
    end if;
  end loop;
end $$;

/*
 * dashboard.patch_habit_history(since, seen, read, skip) -> rows changed
 * The kept histories of habits whose logs changed unseen by the previous pass (marked `since`,
 * in transaction `seen`, read under snapshot `read`: dashboard.change_unseen; the changes are
 * staging.habit_day_changes, kept by the triggers of sql/functions/change_capture.sql),
 * patched: only the changed units (days, or ISO weeks of weekly habits) are resolved again from
 * their logs, merged into the stored units, and the streaks walked as of the student's local
 * today. The result equals deriving the habit from all its logs (dashboard.habit_history_of;
 * tests/test_incremental_refresh.py holds the two equal over random changes) at a fraction of
 * the reading: one index range per changed day instead of every log of the student.
 * Students in `skip` are left out (their caller derives them whole: habits or timezone changed).
 * A history not stored yet is not created here: a new habit is a change of coaching_habits,
 * which derives its student whole.
 */
create or replace function dashboard.patch_habit_history(p_since timestamptz, p_seen xid8, p_read pg_snapshot,
                                                          p_skip uuid[] default '{}')
returns bigint
language plpgsql
set jit = off
as $$
declare
  v_rows bigint;
begin
  with changed as materialized (
    select distinct hh.habit_id, hh.user_id, hh.weekly,
           case when hh.weekly then date_trunc('week', c.log_date)::date else c.log_date end as unit
      from staging.habit_day_changes c
      join dashboard.habit_history hh on hh.habit_id = c.habit_id
     where dashboard.change_unseen(c.changed_at, c.written_by, p_since, p_seen, p_read)
       and not exists (select from unnest(p_skip) k where k = hh.user_id)
  ), resolved as materialized (
    select ch.habit_id, ch.unit, r.status   -- null: no log left on that unit
      from changed ch
      left join lateral dashboard.resolved_unit(ch.user_id, ch.habit_id, ch.unit, ch.weekly) r on true
  ), patched as (
    select hh.habit_id, hh.weekly, sp.units, sp.statuses,
           (dashboard.clock() at time zone dashboard.effective_timezone(hh.zone))::date as today
      from (select r.habit_id, array_agg(r.unit order by r.unit) as units,
                   array_agg(r.status order by r.unit) as statuses
              from resolved r group by r.habit_id) r
      join dashboard.habit_history hh on hh.habit_id = r.habit_id
      cross join lateral dashboard.splice_units(hh.units, hh.statuses, r.units, r.statuses) sp
  )
  update dashboard.habit_history hh
     set units = p.units, statuses = p.statuses, as_of = p.today,
         current_streak = w.current_streak, longest_streak = w.longest_streak, at_risk = w.at_risk,
         completed_week = w.completed_week
    from patched p
    cross join lateral (
      select s.current_streak, s.longest_streak, s.at_risk,
             dashboard.completed_units(p.units, p.statuses, date_trunc('week', p.today)::date, p.today) as completed_week
        from dashboard.streak_walk(p.units, p.statuses,
                                   case when p.weekly then date_trunc('week', p.today)::date else p.today end,
                                   case when p.weekly then 7 else 1 end) s) w
   where hh.habit_id = p.habit_id
     and (hh.units, hh.statuses, hh.as_of, hh.current_streak, hh.longest_streak, hh.at_risk,
          hh.completed_week)
         is distinct from
         (p.units, p.statuses, p.today, w.current_streak, w.longest_streak, w.at_risk, w.completed_week);
  get diagnostics v_rows = row_count;
  return v_rows;
end $$;
