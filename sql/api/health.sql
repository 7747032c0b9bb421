/*
 * api.health_status() -> jsonb: what /readyz reports without a token (callable by anon):
 * per materialized view and serving table, the age of its snapshot and whether it is stale
 * (older than two refresh periods); per upstream, whether its last load worked. No student data.
 */
create or replace function api.health_status(p_stale_after interval default '10 minutes') returns jsonb
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select jsonb_build_object(
    'snapshots', coalesce((select jsonb_agg(jsonb_build_object(
                   'name', name, 'age_seconds', round(extract(epoch from age)),
                   'stale', age is null or age > p_stale_after, 'ok', ok) order by name)
                  from dashboard.refresh_status where kind = 'target'), '[]'),
    'upstreams', coalesce((select jsonb_agg(jsonb_build_object('service', name, 'ok', ok) order by name)
                  from dashboard.refresh_status where kind = 'upstream'), '[]'))
$$;
grant execute on function api.health_status(interval) to anon, authenticated;
