-- curriculum: 4 tracks of 40 modules; each student has a progress row for every module of
-- their track (a completed prefix, one in progress, the rest not started) and 3 recommended missions.
create or replace function seed_catalog(p_seed integer) returns bigint
language sql as $$
  with t as (
    insert into tracks (code, name)
    select code, name from (values ('SOC', 'SOC Analyst'), ('PENTEST', 'Penetration Tester'),
                                   ('GRC', 'GRC Analyst'), ('CLOUD', 'Cloud Security Engineer')) v(code, name)
    returning code),
  m as (
    insert into modules (id, track_code, position, title)
    select seed_uuid(p_seed, 'module:' || code || ':' || p), code, p, code || ' module ' || p
    from t, generate_series(1, 40) p
    returning 1)
  select count(*) from m
$$;

create or replace function seed_students(p_seed integer, p_first integer, p_last integer, p_now timestamptz)
returns bigint language plpgsql as $$
declare
  n bigint := 0;
  k bigint;
begin
  insert into module_progress (student_id, module_id, progress_pct, status, completed_at)
  select seed_student_id(p_seed, i), seed_uuid(p_seed, 'module:' || seed_track(p_seed, i) || ':' || p),
         case when p <= done then 100
              when p = done + 1 then round((seed_r(p_seed, 'mprog:' || i) * 95)::numeric, 2)
              else 0 end,
         case when p <= done then 'completed' when p = done + 1 then 'in_progress' else 'not_started' end,
         case when p <= done then p_now - make_interval(days => (done - p) * 2 + 1) end
  from generate_series(p_first, p_last) i
  cross join lateral (select floor(seed_r(p_seed, 'mdone:' || i) * 41)::int as done) d
  cross join lateral generate_series(1, 40) p
  where seed_has_data(p_seed, i);
  get diagnostics k = row_count; n := n + k;

  insert into recommended_missions (student_id, mission_code, rank, reason)
  select distinct on (seed_student_id(p_seed, i), code)
         seed_student_id(p_seed, i), code, rk, 'Builds ' || skill
  from generate_series(p_first, p_last) i
  cross join lateral generate_series(1, 3) rk
  cross join lateral (
    select s.prefix || '-0' || (1 + floor(seed_r(p_seed, 'recn:' || i || ':' || rk) * 4)::int) as code, s.skill
    from seed_skills(seed_track(p_seed, i)) s
    where s.ord = 1 + floor(seed_r(p_seed, 'recs:' || i || ':' || rk) * 5)::int
  ) c
  where seed_has_data(p_seed, i);
  get diagnostics k = row_count; n := n + k;
  return n;
end $$;
