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

grant anon, authenticated to authenticator;
-- The owner creates the api views and hands them to dashboard_api.
grant dashboard_api to dashboard_owner;
grant dashboard_analyst to dashboard_dba;

-- The API's queries are short point reads: JIT compilation (triggered by the planner's cost
-- estimates of the masking functions) cost 170 ms a request here and saves nothing.
alter role authenticator set jit = off;
-- A job whose worker died mid-refresh: the server notices the lost client within a second even
-- while the refresh is still running or waiting on a lock, and rolls the refresh back.
alter role dashboard_worker set client_connection_check_interval = '1s';
