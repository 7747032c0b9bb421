-- Offline habit sync: the web client records habit logs while offline, each with its own UUID,
-- and sends them in batches (POST /api/v1/student/habits/logs:sync -> api.sync_habit_logs).
--
-- The logs are written to the coaching service's own habit_logs table through the foreign table
-- fdw_coaching.habit_logs, in the request's transaction: the coaching service sees them at once,
-- and the dashboard refreshes the student from the same rows. postgres_fdw commits the remote
-- transaction with the local one, so a batch is written entirely or not at all; an unreachable
-- coaching service fails the whole batch (the API answers 503 and the client retries).
-- docs/architecture.md ("Offline habit sync") has the why (foreign table, not an inbox table).
--
-- Idempotency: the client's UUID is habit_logs' primary key. A log whose id already exists for
-- the student is a "duplicate" (never rewritten: a log is immutable once recorded), so the same
-- batch sent twice writes nothing the second time. Two devices logging one habit and day both
-- keep their log (history); the streak rule decides (the log with the greatest logged_at wins).

/* One log of a batch, as parsed and classified. reason: null (accepted), 'duplicate', or why it
   was rejected. */
create type dashboard.habit_sync_item as (
  ord       integer,      -- position in the batch (1-based)
  raw_id    text,         -- the id as sent, when it was a string (echoed back)
  id        uuid,
  habit_id  uuid,
  log_date  date,
  status    text,
  logged_at timestamptz,
  reason    text
);

/* dashboard.iso_date(text) -> date: 'YYYY-MM-DD' of a real calendar day, else null (never
   raises: one malformed item must not fail its batch). */
create or replace function dashboard.iso_date(p_text text) returns date
language plpgsql immutable parallel safe as $$
declare
  v_first date;
begin
  if p_text is null or p_text !~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'
     or left(p_text, 4) = '0000' then
    return null;
  end if;
  v_first := (left(p_text, 8) || '01')::date;
  if substr(p_text, 9, 2)::integer > extract(day from v_first + interval '1 month' - interval '1 day') then
    return null;  -- 2026-02-30
  end if;
  return p_text::date;
end $$;

/* dashboard.iso_instant(text) -> timestamptz: an ISO 8601 instant WITH its offset
   ('2026-05-01T20:00:00Z', '...+05:30'), else null (never raises). An instant without an
   offset is refused: PostgreSQL would read it in the session's TimeZone and the web client
   (clients/web/streak.js) as UTC, and "last logged wins" compares these instants. */
create or replace function dashboard.iso_instant(p_text text) returns timestamptz
language plpgsql stable parallel safe as $$
declare
  m text[];
begin
  m := regexp_match(p_text,
         '^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?'
         '([Zz]|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)$');
  if m is null or dashboard.iso_date(m[1]) is null then
    return null;
  end if;
  return p_text::timestamptz;
end $$;

/* dashboard.habit_sync_parse(item, ord) -> the item's fields, reason 'invalid' when any is
   missing or malformed (unknown keys are ignored). */
create or replace function dashboard.habit_sync_parse(p_item jsonb, p_ord integer)
returns dashboard.habit_sync_item
language plpgsql stable parallel safe as $$
declare
  v dashboard.habit_sync_item;
  v_uuid constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
begin
  v.ord := p_ord;
  if jsonb_typeof(p_item) is distinct from 'object' then
    v.reason := 'invalid';
    return v;
  end if;
  if jsonb_typeof(p_item -> 'id') = 'string' then
    v.raw_id := left(p_item ->> 'id', 64);
    if v.raw_id ~ v_uuid then
      v.id := v.raw_id::uuid;
    end if;
  end if;
  if jsonb_typeof(p_item -> 'habit_id') = 'string' and (p_item ->> 'habit_id') ~ v_uuid then
    v.habit_id := (p_item ->> 'habit_id')::uuid;
  end if;
  if jsonb_typeof(p_item -> 'log_date') = 'string' then
    v.log_date := dashboard.iso_date(p_item ->> 'log_date');
  end if;
  if jsonb_typeof(p_item -> 'status') = 'string'
     and (p_item ->> 'status') in ('completed', 'skipped', 'missed') then
    v.status := p_item ->> 'status';
  end if;
  if jsonb_typeof(p_item -> 'logged_at') = 'string' then
    v.logged_at := dashboard.iso_instant(p_item ->> 'logged_at');
  end if;
  if v.id is null or v.habit_id is null or v.log_date is null or v.status is null
     or v.logged_at is null then
    v.reason := 'invalid';
  end if;
  return v;
end $$;

/*
 * dashboard.sync_habit_logs(user_id, logs, max_age_days) -> jsonb
 *
 * Writes a batch of one student's offline habit logs to the coaching service and returns
 *   {"results":  [{"id", "outcome": accepted|duplicate|rejected, "reason"}, ...] (batch order),
 *    "streaks":  [{"habit_id", "frequency", "current_streak", "longest_streak", "at_risk"}, ...]
 *                every active habit, dashboard.habit_streak over all its logs as of "as_of",
 *    "dashboard": {"current_streak", "longest_streak", "streak_at_risk", "refreshed_at"} (the
 *                refreshed cache row; null when the student is unknown to identity),
 *    "timezone": the student's effective zone, "as_of": the instant the streaks are for}
 * so clients/web/streak.js habitStreak(logs, frequency, timezone, as_of) gives the same streaks.
 *
 * Each log: {"id": uuid, "habit_id": uuid, "log_date": "YYYY-MM-DD" (the student's local day),
 * "status": completed|skipped|missed, "logged_at": ISO 8601 instant with offset}. Reasons, in
 * the order they are checked:
 *   invalid             a field missing or malformed (or the item is not an object)
 *   duplicate_in_batch  the id appeared earlier in this batch (the first one is judged)
 *   (duplicate)         the id exists in habit_logs for this student: outcome "duplicate"
 *   conflict            the id exists for another student (nothing else is said)
 *   not_your_habit      the habit belongs to another student
 *   unknown_habit       no such habit (or it was deleted)
 *   future_date         log_date after the student's local today (now(), their timezone)
 *   too_old             log_date more than p_max_age_days before their local today
 * Inactive (paused) habits accept logs: they were recorded when the habit was live.
 *
 * Errors (nothing written): 22023 when logs is not an array, holds more than 100 items, or
 * p_max_age_days is negative; the coaching service unreachable: its connection error (08xxx).
 * Steps: lock the student (one sync or refresh at a time), the student's identity row into
 * staging (timezone; a failing identity service leaves the staged one), the batch's log ids and
 * habit ids looked up in the coaching service (one remote query each, filters shipped), one
 * INSERT of the accepted logs through fdw_coaching.habit_logs, dashboard.refresh_student, then
 * streaks from the refreshed staging rows.
 */
create or replace function dashboard.sync_habit_logs(p_user uuid, p_logs jsonb,
                                                     p_max_age_days integer default 30)
returns jsonb
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  c_max_batch constant integer := 100;
  v_count integer;
  v_items dashboard.habit_sync_item[];
  v_ids uuid[];
  v_habit_ids uuid[];
  v_my_logs uuid[] := '{}'::uuid[];
  v_their_logs uuid[] := '{}'::uuid[];
  v_my_habits uuid[] := '{}'::uuid[];
  v_their_habits uuid[] := '{}'::uuid[];
  v_tz text;
  v_today date;
  v_at timestamptz;
  v_rows bigint;
  v_expected bigint;
  v_streaks jsonb;
  v_dashboard jsonb;
begin
  if p_user is null then
    raise exception 'sync_habit_logs needs a student id' using errcode = '22004';
  end if;
  if jsonb_typeof(p_logs) is distinct from 'array' then
    raise exception 'logs must be a JSON array' using errcode = '22023';
  end if;
  v_count := jsonb_array_length(p_logs);
  if v_count > c_max_batch then
    raise exception 'batch too large' using errcode = '22023',
      detail = format('%s logs; at most %s per batch', v_count, c_max_batch);
  end if;
  if p_max_age_days is null or p_max_age_days < 0 then
    raise exception 'max age must be a number of days >= 0' using errcode = '22023';
  end if;

  -- One sync or refresh of this student at a time (refresh_student takes the same lock): the
  -- duplicate check below and the insert cannot interleave with another sync's.
  perform pg_advisory_xact_lock(dashboard.lock_class('student'), hashtext(p_user::text));

  -- Parse; a later copy of an id already in the batch is rejected.
  select array_agg(case when p.reason is null and p.copy > 1
                        then row(p.ord, p.raw_id, p.id, p.habit_id, p.log_date, p.status,
                                 p.logged_at, 'duplicate_in_batch')::dashboard.habit_sync_item
                        else row(p.ord, p.raw_id, p.id, p.habit_id, p.log_date, p.status,
                                 p.logged_at, p.reason)::dashboard.habit_sync_item end
                   order by p.ord)
    into v_items
    from (select i.*, row_number() over (partition by i.reason is null, i.id order by i.ord) as copy
            from jsonb_array_elements(p_logs) with ordinality e(item, ord)
            cross join lateral dashboard.habit_sync_parse(e.item, e.ord::integer) i) p;
  v_items := coalesce(v_items, '{}');

  -- The student's timezone, fresh (a student created minutes ago may not be staged yet).
  begin
    perform dashboard.student_load_identity_students(p_user);
  exception when others then
    raise warning 'identity upstream unavailable for student %: %', p_user, sqlerrm;
  end;
  v_tz := dashboard.effective_timezone((select s.timezone from staging.identity_students s
                                         where s.id = p_user and s.deleted_at is null));
  v_today := dashboard.local_date(now(), v_tz);   -- now(), not dashboard.clock(): no session
                                                  -- setting may move the accepted window

  -- What the coaching service holds for the batch's ids: asked directly (not staging, which
  -- lags for other students and drops soft-deleted rows). An unreachable coaching service
  -- raises here, before anything is written.
  select array_agg(distinct i.id), array_agg(distinct i.habit_id)
    into v_ids, v_habit_ids
    from unnest(v_items) i where i.reason is null;
  if v_ids is not null then
    select coalesce(array_agg(l.id) filter (where l.student_id = p_user), '{}'),
           coalesce(array_agg(l.id) filter (where l.student_id <> p_user), '{}')
      into v_my_logs, v_their_logs
      from fdw_coaching.habit_logs l
     where l.id = any(v_ids);
    select coalesce(array_agg(h.id) filter (where h.student_id = p_user), '{}'),
           coalesce(array_agg(h.id) filter (where h.student_id <> p_user), '{}')
      into v_my_habits, v_their_habits
      from fdw_coaching.habits h
     where h.id = any(v_habit_ids) and h.deleted_at is null;
  end if;

  select coalesce(array_agg(row(i.ord, i.raw_id, i.id, i.habit_id, i.log_date, i.status, i.logged_at,
                                case
                                  when i.reason is not null then i.reason
                                  when i.id = any(v_my_logs) then 'duplicate'
                                  when i.id = any(v_their_logs) then 'conflict'
                                  when i.habit_id = any(v_their_habits) then 'not_your_habit'
                                  when not i.habit_id = any(v_my_habits) then 'unknown_habit'
                                  when i.log_date > v_today then 'future_date'
                                  when i.log_date < v_today - p_max_age_days then 'too_old'
                                end)::dashboard.habit_sync_item order by i.ord), '{}')
    into v_items
    from unnest(v_items) i;

  -- The accepted logs, in one statement, into the coaching service's table. updated_at is
  -- sent because postgres_fdw transmits every column of an INSERT (the remote default does
  -- not apply); it is the dashboard's clock.
  insert into fdw_coaching.habit_logs (id, habit_id, student_id, log_date, status, logged_at,
                                       updated_at, deleted_at)
  select i.id, i.habit_id, p_user, i.log_date, i.status, i.logged_at, clock_timestamp(), null
    from unnest(v_items) i
   where i.reason is null
  on conflict do nothing;
  get diagnostics v_rows = row_count;
  select count(*) into v_expected from unnest(v_items) i where i.reason is null;
  if v_rows <> v_expected then
    -- cannot happen under the student lock unless another writer used these ids meanwhile
    raise exception 'habit logs written concurrently; retry the batch' using errcode = '40001';
  end if;

  perform dashboard.refresh_student(p_user);

  v_at := dashboard.clock();   -- the instant the cache row was computed as of
  select coalesce(jsonb_agg(jsonb_build_object(
           'habit_id', h.id, 'frequency', h.frequency,
           'current_streak', s.current_streak, 'longest_streak', s.longest_streak,
           'at_risk', s.at_risk) order by h.created_at, h.id), '[]')
    into v_streaks
    from staging.coaching_habits h
    cross join lateral dashboard.habit_streak(
      (select jsonb_agg(jsonb_build_object('log_date', l.log_date, 'status', l.status,
                                           'logged_at', l.logged_at))
         from staging.coaching_habit_logs l
        where l.habit_id = h.id and l.student_id = p_user and l.deleted_at is null),
      h.frequency, v_tz, v_at) s
   where h.student_id = p_user and h.active and h.deleted_at is null;

  select jsonb_build_object('current_streak', c.current_streak, 'longest_streak', c.longest_streak,
                            'streak_at_risk', c.streak_at_risk, 'refreshed_at', c.refreshed_at)
    into v_dashboard
    from serving.student_dashboard_cache c
   where c.user_id = p_user;

  return jsonb_build_object(
    'results', (select coalesce(jsonb_agg(jsonb_build_object(
                          'id', coalesce(i.id::text, i.raw_id),
                          'outcome', case when i.reason is null then 'accepted'
                                          when i.reason = 'duplicate' then 'duplicate'
                                          else 'rejected' end,
                          'reason', case when i.reason <> 'duplicate' then i.reason end)
                        order by i.ord), '[]')
                  from unnest(v_items) i),
    'streaks', v_streaks,
    'dashboard', v_dashboard,
    'timezone', v_tz,
    'as_of', v_at);
end $$;
comment on function dashboard.sync_habit_logs(uuid, jsonb, integer) is
  'Write one student''s offline habit logs to the coaching service (idempotent by log id), '
  'refresh their dashboard, return per-log outcomes and recomputed streaks.';
