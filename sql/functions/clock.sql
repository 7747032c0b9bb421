/*
 * dashboard.clock() -> timestamptz
 * The instant the rollups are computed as of: now(), unless the session froze it with
 * set_config('dashboard.clock', '<timestamptz>', ...) (tests, backfills, "as of" analyses).
 * Only refresh-side computations use it. Entitlement masking never does: it reads now(), so no
 * session setting can move a student back into a paid window.
 */
create or replace function dashboard.clock() returns timestamptz
language sql stable parallel safe as $$
  select coalesce(nullif(current_setting('dashboard.clock', true), '')::timestamptz, now())
$$;
comment on function dashboard.clock() is
  'now(), or the instant frozen in the dashboard.clock setting (refresh-side computations only).';

/*
 * dashboard.timezones: the IANA names this server knows, captured when the schema is applied
 * (pg_timezone_names reads the zone files on every query: far too slow to consult per row).
 */
create table dashboard.timezones (name text primary key);
insert into dashboard.timezones select name from pg_timezone_names on conflict do nothing;

/* dashboard.effective_timezone(tz) -> the zone itself when valid, else 'UTC'. */
create or replace function dashboard.effective_timezone(p_timezone text) returns text
language sql stable parallel safe as $$
  select coalesce((select t.name from dashboard.timezones t where t.name = p_timezone), 'UTC')
$$;
comment on function dashboard.effective_timezone(text) is
  'The IANA zone when the server knows it, UTC when it is null, empty or invalid.';
