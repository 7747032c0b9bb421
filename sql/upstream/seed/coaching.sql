-- coaching: 1-3 habits per student with about 90 days of logs shaped to give streaks of every
-- length (including broken ones and ones alive only until today's local midnight), a few
-- duplicate logs for one day (the last logged wins), goals and reflections.
create or replace function seed_students(p_seed integer, p_first integer, p_last integer, p_now timestamptz)
returns bigint language plpgsql as $$
declare
  n bigint := 0;
  k bigint;
begin
  insert into habits (id, student_id, name, frequency, active, created_at)
  select seed_uuid(p_seed, 'habit:' || i || ':' || j), seed_student_id(p_seed, i),
         (array['Read a security write-up', 'Lab practice 30 min', 'Review SIEM alerts', 'Flashcards',
                'Write a CTF note'])[1 + floor(seed_r(p_seed, 'hname:' || i || ':' || j) * 5)::int],
         case when j = 3 and seed_r(p_seed, 'weekly:' || i) < 0.5 then 'weekly' else 'daily' end,
         seed_r(p_seed, 'hactive:' || i || ':' || j) >= 0.08,
         p_now - interval '120 days'
  from generate_series(p_first, p_last) i
  cross join lateral generate_series(1, 1 + floor(seed_r(p_seed, 'nhabits:' || i) * 3)::int) j
  where seed_has_data(p_seed, i);
  get diagnostics k = row_count; n := n + k;

  -- One row per (habit, day offset d back from the student's local today).
  insert into habit_logs (id, habit_id, student_id, log_date, status, logged_at)
  select seed_uuid(p_seed, 'log:' || h.key || ':' || d || ':' || v.version), h.id, h.student_id,
         h.today - d, v.status,
         least(((h.today - d)::timestamp + v.at_hour * interval '1 hour') at time zone h.tz,
               p_now - interval '1 minute')
  from (
    select hb.id, hb.student_id, i || ':' || j as key, hb.frequency,
           seed_effective_timezone(p_seed, i) as tz,
           (p_now at time zone seed_effective_timezone(p_seed, i))::date as today,
           floor((seed_r(p_seed, 'streak:' || i || ':' || j) ^ 1.6) * 75)::int as streak,
           seed_r(p_seed, 'todaylog:' || i || ':' || j) as today_r
    from generate_series(p_first, p_last) i
    cross join lateral generate_series(1, 3) j
    join habits hb on hb.id = seed_uuid(p_seed, 'habit:' || i || ':' || j)
    offset 0  -- computed once per habit, not once per day row
  ) h
  cross join lateral generate_series(0, 89) d
  cross join lateral (
    select seed_r(p_seed, 'day:' || h.key || ':' || d) as r
  ) dr
  cross join lateral (
    select case
             when h.frequency = 'weekly' and d % 7 <> 0 then null
             when d = 0 then case when h.today_r < 0.45 then 'completed'
                                  when h.today_r < 0.50 then 'missed' end
             when d <= h.streak then case when dr.r < 0.07 then 'skipped' else 'completed' end
             when d = h.streak + 1 then case when dr.r < 0.6 then 'missed' end
             when dr.r < 0.45 then 'completed'
             when dr.r < 0.52 then 'skipped'
             when dr.r < 0.70 then 'missed'
           end as final_status
  ) s
  cross join lateral (
    -- the final log of the day, plus now and then an earlier, superseded one
    select 1 as version, s.final_status as status, 18 + dr.r * 3 as at_hour
    union all
    select 2, case when s.final_status = 'missed' then 'completed' else 'missed' end, 8 + dr.r
    where seed_r(p_seed, 'dup:' || h.key || ':' || d) < 0.03
  ) v
  where s.final_status is not null;
  get diagnostics k = row_count; n := n + k;

  insert into goals (id, student_id, title, status, due_on, completed_at, created_at)
  select seed_uuid(p_seed, 'goal:' || i || ':' || g), seed_student_id(p_seed, i),
         'Goal ' || g,
         case when r < 0.45 then 'completed' when r < 0.9 then 'active' else 'abandoned' end,
         (p_now + make_interval(days => floor(seed_r(p_seed, 'gdue:' || i || ':' || g) * 14)::int - 7))::date,
         case when r < 0.45 then p_now - make_interval(secs => seed_r(p_seed, 'gdone:' || i || ':' || g) * 10 * 86400) end,
         p_now - interval '20 days'
  from generate_series(p_first, p_last) i
  cross join lateral generate_series(1, 2 + floor(seed_r(p_seed, 'ngoals:' || i) * 5)::int) g
  cross join lateral (select seed_r(p_seed, 'gstatus:' || i || ':' || g) as r) gr
  where seed_has_data(p_seed, i);
  get diagnostics k = row_count; n := n + k;

  insert into reflections (id, student_id, body, created_at)
  select seed_uuid(p_seed, 'refl:' || i || ':' || f), seed_student_id(p_seed, i),
         'What I learned today (' || f || ')',
         p_now - make_interval(secs => seed_r(p_seed, 'rat:' || i || ':' || f) * 20 * 86400)
  from generate_series(p_first, p_last) i
  cross join lateral generate_series(1, floor(seed_r(p_seed, 'nrefl:' || i) * 8)::int) f
  where seed_has_data(p_seed, i);
  get diagnostics k = row_count; n := n + k;
  return n;
end $$;
