-- Shared by every upstream stand-in database (applied first, into each one).
-- Each stand-in is shaped the way its service would own its data: its own keys, timestamptz
-- everywhere, updated_at on every mutable row (kept by the trigger below, so the dashboard's
-- watermark loads see every change) and soft deletes (deleted_at) where rows can disappear.

create or replace function touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := clock_timestamp();
  return new;
end $$;

-- The dashboard reads the stand-ins through postgres_fdw as this role (read-only, except INSERT
-- on coaching's habit_logs: the offline habit sync writes there, see coaching.sql).
do $$
begin
  if not exists (select from pg_roles where rolname = 'och_upstream_reader') then
    create role och_upstream_reader login;
  end if;
end $$;
grant usage on schema public to och_upstream_reader;
alter default privileges in schema public grant select on tables to och_upstream_reader;
