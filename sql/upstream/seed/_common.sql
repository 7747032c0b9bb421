-- Deterministic synthetic-data helpers, installed into every upstream stand-in.
-- Every value is a pure function of (seed, key): the same --seed gives the same data, and
-- every stand-in derives the same student attributes (id, track, timezone) independently.

-- A uniform number in [0, 1) from a seed and a key.
create or replace function seed_r(p_seed integer, p_key text) returns double precision
language sql immutable parallel safe as $$
  select (hashtextextended(p_key, p_seed) & 2147483647)::double precision / 2147483648.0
$$;

create or replace function seed_uuid(p_seed integer, p_key text) returns uuid
language sql immutable parallel safe as $$
  select md5(p_seed::text || ':' || p_key)::uuid
$$;

create or replace function seed_student_id(p_seed integer, p_i integer) returns uuid
language sql immutable parallel safe as $$ select seed_uuid(p_seed, 'student:' || p_i) $$;

create or replace function seed_tracks() returns text[]
language sql immutable parallel safe as $$ select array['SOC', 'PENTEST', 'GRC', 'CLOUD'] $$;

create or replace function seed_track(p_seed integer, p_i integer) returns text
language sql immutable parallel safe as $$
  select (seed_tracks())[1 + floor(seed_r(p_seed, 'track:' || p_i) * 4)::int]
$$;

-- Timezones spread across the world, with DST, the date line, and some missing or invalid
-- (the dashboard must fall back to UTC for those).
create or replace function seed_timezone(p_seed integer, p_i integer) returns text
language sql immutable parallel safe as $$
  select (array['UTC', 'America/New_York', 'America/Los_Angeles', 'America/Sao_Paulo',
                'Europe/London', 'Europe/Berlin', 'Africa/Lagos', 'Africa/Nairobi',
                'Asia/Kolkata', 'Asia/Singapore', 'Asia/Tokyo', 'Australia/Sydney',
                'Pacific/Auckland', 'Pacific/Kiritimati', 'Pacific/Pago_Pago',
                'Mars/Olympus_Mons', null])[1 + floor(seed_r(p_seed, 'tz:' || p_i) * 17)::int]
$$;

-- The timezone the generator itself uses for local dates (UTC where the stored one is unusable).
create or replace function seed_effective_timezone(p_seed integer, p_i integer) returns text
language sql immutable parallel safe as $$
  select coalesce(nullif(seed_timezone(p_seed, p_i), 'Mars/Olympus_Mons'), 'UTC')
$$;

-- About one student in 37 exists in identity only: no data in any other service.
create or replace function seed_has_data(p_seed integer, p_i integer) returns boolean
language sql immutable parallel safe as $$ select p_i % 37 <> 0 $$;

-- Skills of a track (5 each) with the mission code prefix that trains them.
create or replace function seed_skills(p_track text) returns table (ord integer, skill text, prefix text)
language sql immutable parallel safe as $$
  select s.ord::int, s.skill, s.prefix
  from unnest(case p_track
      when 'SOC' then array['siem', 'incident_response', 'threat_hunting', 'log_analysis', 'malware_triage']
      when 'PENTEST' then array['web_exploitation', 'network_pentest', 'privilege_escalation', 'recon', 'reporting']
      when 'GRC' then array['risk_assessment', 'audit', 'policy_writing', 'compliance', 'continuity_planning']
      else array['iam', 'kubernetes_security', 'cloud_posture', 'devsecops', 'cloud_networking'] end,
    case p_track
      when 'SOC' then array['SIEM', 'IR', 'TH', 'LOG', 'MAL']
      when 'PENTEST' then array['WEB', 'NET', 'PRIV', 'REC', 'RPT']
      when 'GRC' then array['RISK', 'AUD', 'POL', 'CMP', 'BCP']
      else array['IAM', 'K8S', 'CSPM', 'DEV', 'CNET'] end) with ordinality as s(skill, prefix, ord)
$$;

-- Empties every table of this stand-in (a re-seed replaces the data).
create or replace function seed_reset() returns void
language plpgsql as $$
declare
  tables text;
begin
  select string_agg(format('%I.%I', schemaname, tablename), ', ') into tables
  from pg_tables where schemaname = 'public';
  if tables is not null then
    execute 'truncate ' || tables || ' cascade';
  end if;
end $$;

-- Default: no catalogue (overridden by the services that own one).
create or replace function seed_catalog(p_seed integer) returns bigint
language sql as $$ select 0::bigint $$;
