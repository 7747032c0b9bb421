-- missions: 20 missions per track (4 per skill, e.g. SIEM-01..SIEM-04) and, per student, one
-- submission for each mission of their track in every status, deadlines past and future.
create or replace function seed_catalog(p_seed integer) returns bigint
language sql as $$
  with m as (
    insert into missions (id, code, title, track_code, skill, difficulty, competencies, estimated_hours)
    select seed_uuid(p_seed, 'mission:' || s.prefix || '-0' || k), s.prefix || '-0' || k,
           initcap(replace(s.skill, '_', ' ')) || ' mission ' || k, t, s.skill,
           (array['beginner', 'intermediate', 'advanced', 'advanced'])[k],
           array[s.skill, (array['communication', 'documentation', 'tooling', 'analysis'])[k]],
           2 + k * 1.5
    from unnest(seed_tracks()) t, seed_skills(t) s, generate_series(1, 4) k
    returning 1)
  select count(*) from m
$$;

create or replace function seed_students(p_seed integer, p_first integer, p_last integer, p_now timestamptz)
returns bigint language sql as $$
  with ins as (
    insert into submissions (id, student_id, mission_id, status, ai_score, ai_feedback, mentor_score,
                             mentor_feedback, deadline_at, started_at, submitted_at, reviewed_at, created_at)
    select seed_uuid(p_seed, 'sub:' || i || ':' || m.code), seed_student_id(p_seed, i), m.id, st.status,
           case when st.ai then round((40 + seed_r(p_seed, 'ai:' || i || m.code) * 60)::numeric, 2) end,
           case when st.ai then 'AI review of ' || m.code || ': solid detection logic; tighten the write-up.' end,
           case when st.mentor then round((50 + seed_r(p_seed, 'mentor:' || i || m.code) * 50)::numeric, 2) end,
           case when st.mentor then 'Mentor notes on ' || m.code || ': good triage, explain the pivot.' end,
           p_now + make_interval(secs => (seed_r(p_seed, 'dl:' || i || m.code) * 30 - 8) * 86400),
           case when st.status <> 'not_started' then p_now - interval '12 days' end,
           case when st.submitted then p_now - interval '5 days' end,
           case when st.ai then p_now - interval '3 days' end,
           p_now - interval '30 days'
    from generate_series(p_first, p_last) i
    join missions m on m.track_code = seed_track(p_seed, i)
    cross join lateral (
      select x.status,
             x.status in ('ai_reviewed', 'in_mentor_review', 'mentor_review', 'approved', 'failed', 'rejected', 'revised') as ai,
             x.status in ('mentor_review', 'approved', 'failed', 'rejected', 'revised') as mentor,
             x.status not in ('not_started', 'in_progress', 'draft') as submitted
      from (select (array['not_started', 'not_started', 'not_started', 'in_progress', 'in_progress', 'draft',
                          'submitted', 'in_ai_review', 'ai_reviewed', 'in_mentor_review', 'mentor_review',
                          'approved', 'approved', 'approved', 'failed', 'rejected', 'revised'])
                   [1 + floor(seed_r(p_seed, 'status:' || i || m.code) * 17)::int] as status) x
    ) st
    where seed_has_data(p_seed, i)
    returning 1)
  select count(*) from ins
$$;
