-- portfolio: 8 items per student in every approval state, and a public profile.
create or replace function seed_students(p_seed integer, p_first integer, p_last integer, p_now timestamptz)
returns bigint language sql as $$
  with items as (
    insert into portfolio_items (id, student_id, title, kind, mission_code, approval_state, created_at)
    select seed_uuid(p_seed, 'item:' || i || ':' || k), seed_student_id(p_seed, i), 'Portfolio item ' || k,
           (array['writeup', 'lab', 'report', 'tool'])[1 + k % 4], null,
           (array['draft', 'pending', 'approved', 'approved', 'rejected'])
             [1 + floor(seed_r(p_seed, 'pstate:' || i || ':' || k) * 5)::int],
           p_now - make_interval(days => k * 5)
    from generate_series(p_first, p_last) i
    cross join lateral generate_series(1, floor(seed_r(p_seed, 'nitems:' || i) * 9)::int) k
    where seed_has_data(p_seed, i)
    returning 1),
  profiles as (
    insert into public_profiles (student_id, slug, is_public, headline)
    select seed_student_id(p_seed, i), 's' || i || '-' || p_seed, seed_r(p_seed, 'public:' || i) < 0.5,
           case when seed_r(p_seed, 'headline:' || i) < 0.7 then 'Aspiring cyber defender' end
    from generate_series(p_first, p_last) i
    where seed_has_data(p_seed, i)
    returning 1)
  select (select count(*) from items) + (select count(*) from profiles)
$$;
