-- Habit streaks, computed per habit as of an instant.
--
-- clients/web/streak.js mirrors these functions rule for rule so the web client can show a
-- streak optimistically (offline logs) without a round trip; tests/test_streak_agreement.py
-- generates random histories and asserts both give identical answers. Change both or neither.
--
-- Rules, in short (the product spec has the long form):
--   * a "unit" is a local calendar day (daily habits) or a local ISO week, Monday start
--     (weekly habits); today's unit is the one containing the local date of p_at;
--   * per log_date the log with the greatest logged_at wins; ties on logged_at go to the best
--     status (completed > skipped > missed); a null logged_at is older than any instant;
--   * logs dated after today are ignored; a week's status is the best of its days';
--   * walking back from today: completed counts one, skipped bridges without counting,
--     missed or a unit without logs ends the streak; today without a log yet does not end it
--     (the streak is then counted from the previous unit and is "at risk" when > 0).


/*
 * dashboard.local_date(p_at timestamptz, p_timezone text) returns date
 *
 * The calendar date of p_at on the wall clock of p_timezone; null when p_at is null.
 *
 * The zone is dashboard.effective_timezone(p_timezone) (sql/functions/clock.sql): only IANA
 * "Area/Location" names are honoured, matched case-insensitively as PostgreSQL and Intl do;
 * anything else is UTC: null, '', unknown names, and on purpose also single-word names and
 * POSIX strings. PostgreSQL reads 'CET' or 'PST' as fixed-offset abbreviations, 'UTC+3' and
 * even 'Abc/B+1' as POSIX rules and 'right/...' with leap seconds, while Intl reads 'CET' and
 * 'PST' as full zones (Europe/Brussels, America/Los_Angeles) and rejects the rest, so the client
 * and the server would otherwise disagree on the date. One rule, one place: the dashboard's
 * local days (dashboard.v_identity.timezone) and this function cannot disagree.
 *
 * Caveats: names the server's tzdata and the client's ICU disagree on still differ (new
 * zones reach one before the other).
 */
create or replace function dashboard.local_date(p_at timestamptz, p_timezone text)
returns date
language sql
stable parallel safe
as $$
  select (p_at at time zone dashboard.effective_timezone(p_timezone))::date
$$;

comment on function dashboard.local_date(timestamptz, text) is
  'Local calendar date of p_at in IANA zone p_timezone (Area/Location names only); UTC when '
  'the zone is null, empty, invalid or not an Area/Location name. Mirrored by '
  'clients/web/streak.js localDate.';


/*
 * dashboard.streak_walk(p_units date[], p_statuses text[], p_today date,
 *                       p_unit_days integer default 1)
 *   returns table (current_streak integer, longest_streak integer, at_risk boolean)
 *
 * The pure core of the streak rules, one pass over already resolved units.
 *   p_units     ascending, unique unit starts: days, or ISO week Mondays;
 *   p_statuses  the resolved status of each unit: 'completed' counts, 'skipped' bridges,
 *               anything else (including null) breaks like 'missed';
 *   p_today     today's unit (today, or the Monday of the current week);
 *   p_unit_days length of a unit: 1 for daily habits, 7 for weekly ones. Without it the
 *               step is ambiguous (daily logs that all fall on Mondays look like weeks).
 * Units after p_today are ignored. A gap (two units more than p_unit_days apart) breaks.
 * current_streak is the run ending today, or ending at the previous unit when today has no
 * log (at_risk is then true if that run is > 0); longest_streak >= current_streak.
 *
 * Caveats: raises on mismatched lengths, unordered or duplicate units, a null unit,
 * multi-dimensional arrays or a null p_today, since each means the caller resolved the logs
 * wrongly. Statuses are read with foreach because subscripting a text[] is O(i) per access;
 * dates are fixed width, so p_units[i] is O(1) and the whole walk stays linear (about 13 us
 * for 30 units).
 */
create or replace function dashboard.streak_walk(
  p_units date[],
  p_statuses text[],
  p_today date,
  p_unit_days integer default 1
)
returns table (current_streak integer, longest_streak integer, at_risk boolean)
language plpgsql
immutable
parallel safe
rows 1   -- always one row: the default estimate (1000) inflated every plan using it 1000-fold
as $$
declare
  v_count integer := coalesce(cardinality(p_units), 0);
  v_i integer := coalesce(array_lower(p_units, 1), 1);
  v_unit date;
  v_status text;
  v_prev date;
  v_run integer := 0;
  v_best integer := 0;
begin
  if p_today is null then
    raise exception 'streak_walk: p_today is null' using errcode = 'null_value_not_allowed';
  end if;
  if p_unit_days is null or p_unit_days < 1 then
    raise exception 'streak_walk: p_unit_days must be >= 1, got %', p_unit_days
      using errcode = 'invalid_parameter_value';
  end if;
  if v_count <> coalesce(cardinality(p_statuses), 0) then
    raise exception 'streak_walk: % units but % statuses',
      v_count, coalesce(cardinality(p_statuses), 0)
      using errcode = 'invalid_parameter_value';
  end if;
  if array_ndims(p_units) > 1 or array_ndims(p_statuses) > 1 then
    raise exception 'streak_walk: arrays must be one-dimensional'
      using errcode = 'invalid_parameter_value';
  end if;
  if array_position(p_units, null) is not null then
    raise exception 'streak_walk: null unit' using errcode = 'null_value_not_allowed';
  end if;

  -- the loop is the hot path of a full refresh: keep it to a few simple statements
  if v_count > 0 then
    foreach v_status in array p_statuses loop
      v_unit := p_units[v_i];
      exit when v_unit > p_today;
      if v_unit - v_prev is distinct from p_unit_days then
        -- only a non-adjacent unit can be out of order, so check it here
        if v_unit <= v_prev then
          raise exception 'streak_walk: units must ascend strictly (% after %)',
            v_unit, v_prev
            using errcode = 'invalid_parameter_value';
        end if;
        v_run := 0;
      end if;
      if v_status = 'completed' then
        v_run := v_run + 1;
        if v_run > v_best then
          v_best := v_run;
        end if;
      elsif v_status is distinct from 'skipped' then
        v_run := 0;
      end if;
      v_prev := v_unit;
      v_i := v_i + 1;
    end loop;
  end if;

  longest_streak := v_best;
  if v_prev = p_today then
    -- v_run is already 0 when today was missed
    current_streak := v_run;
    at_risk := false;
  elsif v_prev = p_today - p_unit_days then
    current_streak := v_run;
    at_risk := v_run > 0;
  else
    current_streak := 0;
    at_risk := false;
  end if;
  return next;
end;
$$;

comment on function dashboard.streak_walk(date[], text[], date, integer) is
  'Streak core over resolved units (ascending unique days or ISO week Mondays, p_unit_days '
  '1 or 7): completed counts, skipped bridges, anything else or a gap breaks; no log in '
  'p_today counts from the previous unit and sets at_risk. One pass, immutable.';


/*
 * dashboard.habit_streak(p_logs jsonb, p_frequency text, p_timezone text,
 *                        p_at timestamptz default now())
 *   returns table (current_streak integer, longest_streak integer, at_risk boolean)
 *
 * A habit's streak as of p_at (now() when null) for a student in p_timezone.
 *   p_logs      JSON array of {"log_date": "YYYY-MM-DD", "status": "completed" | "skipped" |
 *               "missed", "logged_at": ISO 8601 instant}; null or a non-array means no logs;
 *               elements without a known status or without a log_date are ignored;
 *   p_frequency 'weekly' counts local ISO weeks; anything else (normally 'daily') days;
 *   p_timezone  see dashboard.local_date (UTC fallback).
 * Resolution: per log_date the greatest logged_at wins; a tie on logged_at goes to the best
 * status (completed > skipped > missed), so the result never depends on input order; a null
 * logged_at loses to any instant. Dates after the local today are dropped before anything
 * else. Weekly: a week takes the best resolved status of its days.
 *
 * Caveats: raises on an unparseable log_date or logged_at (the JS ignores the former and
 * treats the latter as null). A logged_at without an offset is read in the session TimeZone
 * (the JS reads it as UTC), so send offsets. Cost: about 90 us for 30 logs (200k habits in
 * ~18 s); resolving all logs in one set-based query and calling streak_walk per habit
 * measured ~70 us per habit, so bypassing this function gains little.
 */
create or replace function dashboard.habit_streak(
  p_logs jsonb,
  p_frequency text,
  p_timezone text,
  p_at timestamptz default now()
)
returns table (current_streak integer, longest_streak integer, at_risk boolean)
language plpgsql
stable
parallel safe
as $$
declare
  v_today date := dashboard.local_date(coalesce(p_at, now()), p_timezone);
  v_weekly boolean := p_frequency is not distinct from 'weekly';
  v_units date[];
  v_statuses text[];
begin
  if jsonb_typeof(p_logs) is not distinct from 'array' then
    with entry as (
      select
        (e ->> 'log_date')::date as log_date,
        case e ->> 'status' when 'completed' then 3 when 'skipped' then 2 else 1 end as rank,
        (e ->> 'logged_at')::timestamptz as logged_at
      from jsonb_array_elements(p_logs) as e
      where e ->> 'status' in ('completed', 'skipped', 'missed')
    ),
    day as (
      select distinct on (log_date) log_date, rank
      from entry
      where log_date <= v_today
      order by log_date, logged_at desc nulls last, rank desc
    ),
    unit as (
      select
        case
          when v_weekly then log_date - (extract(isodow from log_date)::integer - 1)
          else log_date
        end as unit,
        max(rank) as rank
      from day
      group by 1
    )
    select
      array_agg(unit order by unit),
      array_agg((array['missed', 'skipped', 'completed'])[rank] order by unit)
    into v_units, v_statuses
    from unit;
  end if;

  return query
  select w.current_streak, w.longest_streak, w.at_risk
  from dashboard.streak_walk(
    coalesce(v_units, '{}'),
    coalesce(v_statuses, '{}'),
    case
      when v_weekly then v_today - (extract(isodow from v_today)::integer - 1)
      else v_today
    end,
    case when v_weekly then 7 else 1 end
  ) as w;
end;
$$;

comment on function dashboard.habit_streak(jsonb, text, text, timestamptz) is
  'Current/longest streak and at_risk of one habit as of p_at, from its raw logs (JSON array '
  'of {log_date, status, logged_at}): last logged_at per date wins (tie: completed > '
  'skipped > missed), future dates ignored, weekly habits by local ISO week. Mirrored by '
  'clients/web/streak.js habitStreak.';
