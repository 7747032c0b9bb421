-- Database-level grants and settings (the database's name is only known at apply time).
do $$
begin
  execute format('revoke all on database %I from public', current_database());
  execute format('grant connect, temporary on database %I to authenticator, dashboard_worker, dashboard_analyst, dashboard_dba', current_database());
  execute format('grant connect, create, temporary on database %I to dashboard_owner', current_database());
  -- PostgREST / Supabase tooling read the exposed schemas from this setting.
  execute format('alter database %I set pgrst.db_schemas = %L', current_database(), 'api');
end $$;

-- Nothing in public for anyone: objects belong in named schemas.
revoke all on schema public from public;

-- Functions are executable by PUBLIC by default; in this database they are not. Every EXECUTE
-- the product needs is granted explicitly, under the function it concerns.
alter default privileges for role dashboard_owner revoke execute on functions from public;
alter default privileges for role dashboard_api revoke execute on functions from public;

grant usage on foreign data wrapper postgres_fdw to dashboard_owner;
-- DBAs read pg_stat_statements and friends.
grant usage on schema extensions to dashboard_dba;
-- The refresh jobs and DBAs lower their own backend's CPU priority (dashboard.lower_priority);
-- set_backend_priority lets a non-superuser renice only backends of its own login role, and
-- only downwards.
do $$
begin
  if exists (select from pg_extension where extname = 'prioritize') then
    grant usage on schema extensions to dashboard_worker;
    grant execute on function extensions.set_backend_priority(integer, integer),
                              extensions.get_backend_priority(integer) to dashboard_worker, dashboard_dba;
  end if;
end $$;
