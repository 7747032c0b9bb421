-- Extensions need a superuser: applied by the administrator on every upgrade (idempotent).
create extension if not exists postgres_fdw;
create extension if not exists pg_stat_statements;
-- plpgsql_check is a development aid (make lint); present where its package is installed.
do $$
begin
  if exists (select from pg_available_extensions where name = 'plpgsql_check') then
    create extension if not exists plpgsql_check;
  end if;
end $$;
