-- Extensions need a superuser: applied by the administrator on every upgrade (idempotent).
-- They live in their own schema, out of reach of the API roles (in public, pg_stat_statements
-- would show every student's query shapes to every student; postgres_fdw's functions too).
create schema if not exists extensions;
revoke all on schema extensions from public;

-- Databases upgraded before extensions had their own schema: move them there (plpgsql_check
-- cannot be moved; it holds nothing, so it is re-created).
do $$
declare
  e record;
begin
  for e in select x.extname from pg_extension x join pg_namespace n on n.oid = x.extnamespace
            where n.nspname = 'public' and x.extname in ('postgres_fdw', 'pg_stat_statements', 'plpgsql_check')
  loop
    if e.extname = 'plpgsql_check' then
      drop extension plpgsql_check;
    else
      execute format('alter extension %I set schema extensions', e.extname);
    end if;
  end loop;
end $$;

create extension if not exists postgres_fdw schema extensions;
create extension if not exists pg_stat_statements schema extensions;
-- plpgsql_check is a development aid (make lint); present where its package is installed.
do $$
begin
  if exists (select from pg_available_extensions where name = 'plpgsql_check') then
    create extension if not exists plpgsql_check schema extensions;
  end if;
end $$;
-- prioritize (set_backend_priority: the backend's nice value) lets the refresh jobs run their
-- backend below the API's (dashboard.lower_priority, sql/functions/priority.sql). Optional: where
-- the package is missing the jobs run at normal priority. Its functions are executable by
-- PUBLIC as installed; here only by the roles database.sql grants them to.
do $$
begin
  if exists (select from pg_available_extensions where name = 'prioritize') then
    create extension if not exists prioritize schema extensions;
    revoke execute on function extensions.set_backend_priority(integer, integer),
                               extensions.get_backend_priority(integer) from public;
  end if;
end $$;

-- (USAGE for dashboard_dba is granted in database.sql: the roles do not exist yet here.)
