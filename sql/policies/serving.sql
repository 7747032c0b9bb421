-- Row-level security on the serving tables. Enabled and FORCED, so the owner is held to the
-- policies too (owners bypass RLS otherwise); only superusers skip it.
--
-- Students never get privileges on these tables directly: they read the api views, which are
-- owned by dashboard_api and mask premium columns (see sql/api/). The student policies name
-- both dashboard_api (the role the api views read as) and authenticated (so a grant added
-- here by mistake still exposes only the student's own rows). auth.uid() is wrapped in a
-- sub-select so it is evaluated once per statement, not once per row.

-- One pair of policies per student table: the student's own rows for reading, every row for
-- the refresh functions (dashboard_owner).
do $$
declare
  t record;
begin
  for t in select * from (values
      ('serving.student_dashboard_cache', 'dashboard row', 'dashboard row'),
      ('serving.student_mission_progress', 'mission progress', 'mission row'),
      ('serving.student_curriculum', 'curriculum progress', 'curriculum row'),
      ('serving.student_module_progress', 'module progress', 'module row')) v(tbl, reads, maintains)
  loop
    execute format('alter table %s enable row level security', t.tbl);
    execute format('alter table %s force row level security', t.tbl);
    execute format('drop policy if exists %I on %s', 'Students read their own ' || t.reads, t.tbl);
    execute format('create policy %I on %s for select to authenticated, dashboard_api '
                   'using (user_id = (select auth.uid()))', 'Students read their own ' || t.reads, t.tbl);
    execute format('drop policy if exists %I on %s', 'Refresh functions maintain every ' || t.maintains, t.tbl);
    execute format('create policy %I on %s for all to dashboard_owner using (true) with check (true)',
                   'Refresh functions maintain every ' || t.maintains, t.tbl);
  end loop;
end $$;

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
  serving.student_curriculum, serving.student_module_progress to dashboard_api;
grant select on serving.tiers, serving.features, serving.tier_features to dashboard_api;
grant select on ops.refresh_state to dashboard_api;
