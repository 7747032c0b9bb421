-- The data-free schemas, rebuilt from these files on every change (see manifest.txt):
--   auth       request identity accessors (Supabase-compatible)
--   dashboard  private: domain views, materialized views, refresh and rollup functions
--   api        what the API (role authenticated) may read: masked, own-row views
--   analytics  pseudonymous views for analysts
create schema auth;
create schema dashboard;
create schema api;
create schema analytics;
revoke all on schema auth, dashboard, api, analytics from public;
-- The api views are handed to dashboard_api (see sql/api/dashboard.sql), which needs CREATE on
-- the schema to own objects there.
grant usage, create on schema api to dashboard_api;
