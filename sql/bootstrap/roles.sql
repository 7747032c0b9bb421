-- Roles are cluster-wide: created only when missing, never dropped here (several databases of
-- one cluster share them, e.g. a demo and a test run).
--
--   authenticator      the API's login role: NOINHERIT, can only switch to anon / authenticated
--   anon               a request without a token: may read nothing but what api grants it
--   authenticated      a student with a verified token: api schema only, own rows only (RLS)
--   dashboard_owner    owns every object; refresh functions run as it (SECURITY DEFINER)
--   dashboard_api      owns the api views (see sql/api/README in sql/api/dashboard.sql)
--   dashboard_worker   the jobs' login role: may only execute the refresh functions
--   dashboard_analyst  reads the analytics views and the materialized views
--   dashboard_dba      runs, schedules and watches refreshes; is also an analyst
do $$
declare
  r record;
begin
  for r in select * from (values
      ('authenticator', 'login noinherit'),
      ('anon', 'nologin'),
      ('authenticated', 'nologin'),
      ('dashboard_owner', 'nologin'),
      ('dashboard_api', 'nologin'),
      ('dashboard_worker', 'login'),
      ('dashboard_analyst', 'login'),
      ('dashboard_dba', 'login')) v(name, attrs)
  loop
    if not exists (select from pg_roles where rolname = r.name) then
      execute format('create role %I %s', r.name, r.attrs);
    end if;
  end loop;
end $$;

-- Memberships and role settings are cluster-wide: written only when missing, so upgrades of
-- several databases of one cluster at once (tests, a demo) do not collide on the same rows.
do $$
declare
  m record;
begin
  for m in select * from (values
      ('anon', 'authenticator'),
      ('authenticated', 'authenticator'),
      ('dashboard_api', 'dashboard_owner'),      -- the owner hands the api views to dashboard_api
      ('dashboard_analyst', 'dashboard_dba')) v(grp, member)
  loop
    if not pg_has_role(m.member, m.grp, 'member') then
      execute format('grant %I to %I', m.grp, m.member);
    end if;
  end loop;
end $$;

-- The API's queries are short point reads: JIT compilation (triggered by the planner's cost
-- estimates of the masking functions) cost 170 ms a request here and saves nothing.
do $$
begin
  if not exists (select from pg_db_role_setting where setdatabase = 0
                  and setrole = 'authenticator'::regrole and 'jit=off' = any(setconfig)) then
    alter role authenticator set jit = off;
  end if;
end $$;
-- A job whose worker died mid-refresh: the server notices the lost client within a second even
-- while the refresh is still running or waiting on a lock, and rolls the refresh back.
do $$
begin
  if not exists (select from pg_db_role_setting where setdatabase = 0
                  and setrole = 'dashboard_worker'::regrole
                  and 'client_connection_check_interval=1s' = any(setconfig)) then
    alter role dashboard_worker set client_connection_check_interval = '1s';
  end if;
end $$;
