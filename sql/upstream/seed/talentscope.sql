-- talentscope: 14 days of readiness history (a trend) and a score per skill of the track.
create or replace function seed_students(p_seed integer, p_first integer, p_last integer, p_now timestamptz)
returns bigint language sql as $$
  with r as (
    insert into readiness_snapshots (student_id, measured_on, readiness_score, time_to_ready_weeks)
    select seed_student_id(p_seed, i), (p_now at time zone 'UTC')::date - d,
           round(greatest(0, least(100, base - d * slope + seed_r(p_seed, 'rn:' || i || ':' || d) * 2))::numeric, 2),
           greatest(0, ceil((100 - (base - d * slope)) / 5))::int
    from generate_series(p_first, p_last) i
    cross join lateral (select 10 + seed_r(p_seed, 'rbase:' || i) * 80 as base,
                               seed_r(p_seed, 'rslope:' || i) * 1.5 - 0.3 as slope) b
    cross join lateral generate_series(0, 13) d
    where seed_has_data(p_seed, i)
    returning 1),
  s as (
    insert into skill_scores (student_id, skill, score, target)
    select seed_student_id(p_seed, i), sk.skill,
           round((20 + seed_r(p_seed, 'sk:' || i || sk.skill) * 75)::numeric, 2),
           70 + 5 * floor(seed_r(p_seed, 'tg:' || i || sk.skill) * 5)
    from generate_series(p_first, p_last) i
    cross join lateral seed_skills(seed_track(p_seed, i)) sk
    where seed_has_data(p_seed, i)
    returning 1)
  select (select count(*) from r) + (select count(*) from s)
$$;
