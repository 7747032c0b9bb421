-- Grants of the rebuilt schemas, in one reviewable place (default deny: EXECUTE was revoked from
-- PUBLIC by default privileges in bootstrap/database.sql; schemas grant nothing to PUBLIC).
--
--   authenticated / anon  usage on api and auth only (api objects grant their own SELECTs)
--   dashboard_worker      executes the refresh entry points (SECURITY DEFINER, run as owner)
--   dashboard_analyst     reads analytics and the materialized views
--   dashboard_dba         analyst + the refresh entry points + ops tables

grant usage on schema api to anon, authenticated;

grant usage on schema dashboard, ops, staging to dashboard_analyst, dashboard_dba, dashboard_worker;
grant usage on schema analytics to dashboard_analyst, dashboard_dba;
grant usage on schema serving to dashboard_api;
grant select on ops.refresh_log, ops.refresh_state, ops.dashboard_update_queue, staging.sources
  to dashboard_analyst, dashboard_dba;
