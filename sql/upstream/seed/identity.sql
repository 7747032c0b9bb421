-- identity: 5 cohorts per track, 30 mentors, and the students.
create or replace function seed_catalog(p_seed integer) returns bigint
language sql as $$
  with c as (
    insert into cohorts (id, name, track_code, starts_on, ends_on)
    select seed_uuid(p_seed, 'cohort:' || t || ':' || k), t || ' cohort ' || (2026 + k / 2) || '-' || (1 + k % 2),
           t, date '2026-01-05' + k * 91, date '2026-01-05' + k * 91 + 270
    from unnest(seed_tracks()) t, generate_series(0, 4) k
    returning 1),
  m as (
    insert into mentors (id, name, email)
    select seed_uuid(p_seed, 'mentor:' || k), 'Mentor ' || k, 'mentor' || k || '@example.test'
    from generate_series(0, 29) k
    returning 1)
  select (select count(*) from c) + (select count(*) from m)
$$;

create or replace function seed_students(p_seed integer, p_first integer, p_last integer, p_now timestamptz)
returns bigint language sql as $$
  with ins as (
    insert into students (id, name, email, timezone, track_code, cohort_id, mentor_id,
                          share_with_mentor, employer_share, public_portfolio, last_login_at, created_at)
    select seed_student_id(p_seed, i),
           (array['Amina', 'Bruno', 'Chen', 'Dana', 'Emeka', 'Farah', 'Goran', 'Hana', 'Ivan', 'Jade',
                  'Kofi', 'Lena', 'Mateo', 'Nadia', 'Omar', 'Priya'])[1 + floor(seed_r(p_seed, 'first:' || i) * 16)::int]
             || ' ' ||
           (array['Okafor', 'Silva', 'Wang', 'Levi', 'Mensah', 'Haddad', 'Novak', 'Sato', 'Petrov',
                  'Dubois', 'Asante', 'Berg', 'Garcia', 'Rahman', 'Nasser', 'Iyer'])[1 + floor(seed_r(p_seed, 'last:' || i) * 16)::int],
           'student' || i || '.' || p_seed || '@example.test',
           seed_timezone(p_seed, i),
           seed_track(p_seed, i),
           case when seed_r(p_seed, 'nocohort:' || i) < 0.12 then null
                else seed_uuid(p_seed, 'cohort:' || seed_track(p_seed, i) || ':' || floor(seed_r(p_seed, 'cohort:' || i) * 5)::int) end,
           case when seed_r(p_seed, 'nomentor:' || i) < 0.15 then null
                else seed_uuid(p_seed, 'mentor:' || floor(seed_r(p_seed, 'mentor:' || i) * 30)::int) end,
           seed_r(p_seed, 'c1:' || i) < 0.8,
           seed_r(p_seed, 'c2:' || i) < 0.3,
           seed_r(p_seed, 'c3:' || i) < 0.4,
           -- most students logged in recently; about a quarter are inactive (over 30 days)
           p_now - make_interval(secs => (seed_r(p_seed, 'login:' || i) ^ 3) * 90 * 86400),
           p_now - make_interval(days => 100 + floor(seed_r(p_seed, 'created:' || i) * 300)::int)
    from generate_series(p_first, p_last) i
    returning 1)
  select count(*) from ins
$$;
