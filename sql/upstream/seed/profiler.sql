-- profiler: a Future-You persona for about 90% of the students who have data.
create or replace function seed_students(p_seed integer, p_first integer, p_last integer, p_now timestamptz)
returns bigint language sql as $$
  with ins as (
    insert into future_you_profiles (student_id, persona_name, persona_summary, recommended_track_code,
                                     skills_needed, identity_alignment_pct, readiness_window_weeks)
    select seed_student_id(p_seed, i),
           (array['Threat Hunter', 'Red Team Operator', 'Cloud Guardian', 'GRC Strategist',
                  'SOC Lead', 'Incident Commander'])[1 + floor(seed_r(p_seed, 'persona:' || i) * 6)::int],
           'Where you are heading in 12 months',
           seed_track(p_seed, i),
           (select array_agg(s.skill order by s.ord) from seed_skills(seed_track(p_seed, i)) s
             where s.ord <= 2 + floor(seed_r(p_seed, 'nskills:' || i) * 3)::int),
           round((20 + seed_r(p_seed, 'align:' || i) * 80)::numeric, 2),
           4 + floor(seed_r(p_seed, 'window:' || i) * 40)::int
    from generate_series(p_first, p_last) i
    where seed_has_data(p_seed, i) and seed_r(p_seed, 'nopersona:' || i) >= 0.1
    returning 1)
  select count(*) from ins
$$;
