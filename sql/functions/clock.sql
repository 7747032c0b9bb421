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
 * dashboard.timezones: the zones a student's timezone may name, captured when the schema is
 * applied (pg_timezone_names reads the zone files on every query: far too slow per row), keyed
 * by lower-case name (zone names match case-insensitively, in PostgreSQL and in browsers).
 *
 * Only IANA Area/Location names (and the Etc/GMT+-N zones that exist) are honoured, the same
 * rule as clients/web/streak.js: PostgreSQL also reads 'CET', 'EST' or POSIX strings, which
 * browsers' Intl reads differently or not at all, so the server and the client would disagree
 * on a student's local day. Anything else is UTC.
 */
create table dashboard.timezones (key text primary key, name text not null);
insert into dashboard.timezones
select lower(name), name from pg_timezone_names
 where name ~* '^([a-z]+(/[a-z][a-z_-]*)+|etc/gmt([+-]?0|[+-]([1-9]|1[0-2])|-1[34]))$'
   and name !~* '^(posix|right)/'
on conflict do nothing;

/* dashboard.effective_timezone(tz) -> the canonical zone name when honoured, else 'UTC'. */
create or replace function dashboard.effective_timezone(p_timezone text) returns text
language sql stable parallel safe as $$
  select coalesce((select t.name from dashboard.timezones t where t.key = lower(p_timezone)), 'UTC')
$$;
comment on function dashboard.effective_timezone(text) is
  'The IANA Area/Location zone when the server knows it (any case), UTC otherwise (null, empty, invalid, abbreviations, POSIX).';
