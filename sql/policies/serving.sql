-- Row-level security on the serving tables. Enabled and FORCED, so the owner is held to the
-- policies too (owners bypass RLS otherwise); only superusers skip it.
--
-- Students never get privileges on these tables directly: they read the api views, which are
-- owned by dashboard_api and mask premium columns (see sql/api/). The student policies name
-- both dashboard_api (the role the api views read as) and authenticated (so a grant added
-- here by mistake still exposes only the student's own rows). auth.uid() is wrapped in a
-- sub-select so it is evaluated once per statement, not once per row.

alter table serving.student_dashboard_cache enable row level security;
alter table serving.student_dashboard_cache force row level security;
alter table serving.student_mission_progress enable row level security;
alter table serving.student_mission_progress force row level security;
alter table serving.student_curriculum enable row level security;
alter table serving.student_curriculum force row level security;

drop policy if exists "Students read their own dashboard row" on serving.student_dashboard_cache;
create policy "Students read their own dashboard row" on serving.student_dashboard_cache
  for select to authenticated, dashboard_api
  using (user_id = (select auth.uid()));

drop policy if exists "Refresh functions maintain every dashboard row" on serving.student_dashboard_cache;
create policy "Refresh functions maintain every dashboard row" on serving.student_dashboard_cache
  for all to dashboard_owner
  using (true) with check (true);

drop policy if exists "Students read their own mission progress" on serving.student_mission_progress;
create policy "Students read their own mission progress" on serving.student_mission_progress
  for select to authenticated, dashboard_api
  using (user_id = (select auth.uid()));

drop policy if exists "Refresh functions maintain every mission row" on serving.student_mission_progress;
create policy "Refresh functions maintain every mission row" on serving.student_mission_progress
  for all to dashboard_owner
  using (true) with check (true);

drop policy if exists "Students read their own curriculum progress" on serving.student_curriculum;
create policy "Students read their own curriculum progress" on serving.student_curriculum
  for select to authenticated, dashboard_api
  using (user_id = (select auth.uid()));

drop policy if exists "Refresh functions maintain every curriculum row" on serving.student_curriculum;
create policy "Refresh functions maintain every curriculum row" on serving.student_curriculum
  for all to dashboard_owner
  using (true) with check (true);

-- The tier configuration holds no student rows, but every serving table is under RLS (one rule,
-- checked by a test): the api views' owner reads it, the owner maintains it.
do $$
declare
  t text;
begin
  foreach t in array array['serving.tiers', 'serving.features', 'serving.tier_features'] loop
    execute format('alter table %s enable row level security', t);
    execute format('alter table %s force row level security', t);
    execute format('drop policy if exists "The api views read the tier configuration" on %s', t);
    execute format('create policy "The api views read the tier configuration" on %s for select '
                   'to dashboard_api using (true)', t);
    execute format('drop policy if exists "The owner maintains the tier configuration" on %s', t);
    execute format('create policy "The owner maintains the tier configuration" on %s for all '
                   'to dashboard_owner using (true) with check (true)', t);
  end loop;
end $$;

-- Analysts read the serving tables only through the pseudonymous analytics views.
grant select on serving.student_dashboard_cache, serving.student_mission_progress,
  serving.student_curriculum to dashboard_api;
grant select on serving.tiers, serving.features, serving.tier_features to dashboard_api;
grant select on ops.refresh_state to dashboard_api;
