-- Refreshing: materialized views (concurrently, only when their inputs changed), the cache
-- merge for active students, the mission rows, one student on demand, and the update queue.
-- The entry points a worker or a DBA calls are SECURITY DEFINER (REFRESH needs ownership) with
-- a pinned search_path, and take a transaction-level advisory lock so runs never overlap.

/* The materialized views in refresh order, and whether their content depends on the calendar
   (today, this week, 30-day activity) and must be recomputed when a local day starts. */
create table dashboard.matviews (
  matview            regclass primary key,
  refresh_order      integer not null unique,
  calendar_sensitive boolean not null
);
insert into dashboard.matviews values
  ('dashboard.mv_identity', 10, true),
  ('dashboard.mv_future_you', 20, false),
  ('dashboard.mv_coaching_summary', 30, true),
  ('dashboard.mv_curriculum_progress', 40, false),
  ('dashboard.mv_mission_funnel', 50, false),
  ('dashboard.mv_portfolio_health', 60, false),
  ('dashboard.mv_readiness', 70, false),
  ('dashboard.mv_subscription', 80, false);

/*
 * dashboard.relation_inputs: for every materialized view and serving table source, the staging
 * tables, materialized views and tables the cycle maintains (dashboard.habit_history, the
 * serving tables mv_curriculum_progress reads) it reads, found by walking the views' rewrite
 * dependencies (pg_depend) down to tables and materialized views. Derived from the catalog, so
 * a new view cannot forget to declare an input.
 */
create view dashboard.relation_inputs as
with recursive walk(root, rel) as (
  select c.oid, c.oid from pg_class c
   where c.relnamespace = 'dashboard'::regnamespace and c.relkind in ('m', 'v')
  union
  select w.root, d.refobjid
    from walk w
    join pg_class wc on wc.oid = w.rel
    join pg_rewrite r on r.ev_class = w.rel
    join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
                    and d.refclassid = 'pg_class'::regclass and d.refobjid <> w.rel
   where w.rel = w.root or wc.relkind = 'v'     -- stop at materialized views and tables
)
select w.root::regclass as relation, w.rel::regclass as input, c.relkind as input_kind
  from walk w join pg_class c on c.oid = w.rel
 where w.rel <> w.root and c.relkind in ('r', 'm')
   and c.relnamespace in ('staging'::regnamespace, 'dashboard'::regnamespace, 'serving'::regnamespace);
comment on view dashboard.relation_inputs is
  'Staging tables, materialized views and maintained tables each dashboard view or materialized view reads (from pg_depend).';

/* The staging tables a view reads, split into the students' own rows and catalogues (no
   student column), from dashboard.relation_inputs. */
create or replace function dashboard.view_staging_inputs(p_view regclass, out staging_table text,
                                                         out per_student boolean)
returns setof record
language sql stable as $$
  select s.staging_table, s.student_column is not null
    from dashboard.relation_inputs ri
    join staging.sources s on format('staging.%I', s.staging_table)::regclass = ri.input
   where ri.relation = p_view
$$;

/* The latest instant a local day started for any student (or in UTC): when it moves past a
   calendar-sensitive target's marker, today/this-week figures must be recomputed. */
create or replace function dashboard.calendar_marker() returns timestamptz
language sql stable as $$
  select max(date_trunc('day', dashboard.clock() at time zone z.tz) at time zone z.tz)
    from (select dashboard.effective_timezone(s.timezone) as tz
            from (select distinct timezone from staging.identity_students) s
          union select 'UTC') z
$$;

/* dashboard.staging_marker(staging_table) -> its last change: by a cycle's load, or an event. */
create or replace function dashboard.staging_marker(p_table text) returns timestamptz
language sql stable as $$
  select greatest(s.changed_at, (select max(ce.changed_at) from staging.change_events ce
                                  where ce.staging_table = s.staging_table))
    from staging.sources s where s.staging_table = p_table
$$;

/* dashboard.changed_students(tables, since, seen, read) -> the students whose rows staging loads
   changed in these tables and that a reader's previous pass (marked `since`, in transaction
   `seen`, read under snapshot `read`) has not seen (dashboard.change_unseen), null when none,
   and null with full => true when they are so many (a fifth of all) that one pass over everyone
   is cheaper. */
create or replace function dashboard.changed_students(p_tables text[], p_since timestamptz, p_seen xid8,
                                                      p_read pg_snapshot, out users uuid[], out full_pass boolean)
language sql stable as $$
  select u, coalesce(cardinality(u) > (select count(*) / 5 from staging.identity_students), false)
    from (select array_agg(distinct c.user_id) as u from staging.student_changes c
           where dashboard.change_unseen(c.changed_at, c.written_by, p_since, p_seen, p_read)
             and c.staging_table = any(p_tables)) x
$$;

/* dashboard.inputs_marker(relation, calendar_sensitive) -> the latest change among its inputs:
   staging tables (loads and change events), materialized views (last refresh), derived
   tables (last change, ops.refresh_state.changed_at) and merged serving tables (last merge:
   a merge that wrote nothing may follow a per-student refresh that wrote the same rows
   between cycles, which what reads the table has not seen yet). */
create or replace function dashboard.inputs_marker(p_relation regclass, p_calendar boolean)
returns timestamptz
language sql stable as $$
  select greatest(
    (select max(dashboard.staging_marker(v.staging_table)) from dashboard.view_staging_inputs(p_relation) v),
    (select max(coalesce(st.changed_at, st.last_success_at)) from dashboard.relation_inputs ri
       join ops.refresh_state st on st.target = ri.input::text     -- matviews, derived tables
      where ri.relation = p_relation),
    case when p_calendar then dashboard.calendar_marker() end)
$$;

/*
 * dashboard.refresh_matview(matview, force) -> 'ok' | 'skipped' | 'failed'
 * Refreshes one materialized view CONCURRENTLY (plainly when it has never been populated),
 * unless its inputs have not changed since its last success. A failure is recorded in
 * ops.refresh_state and ops.refresh_log and leaves the last good snapshot in place.
 */
create or replace function dashboard.refresh_matview(p_matview regclass, p_force boolean default false)
returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp
set work_mem = '1GB'   -- the domain views sort millions of log rows (14M at 100,000 students): in memory
set max_parallel_workers_per_gather = 0   -- one core, as dashboard.refresh_all
as $$
declare
  v_marker timestamptz;
  v_state ops.refresh_state;
  v_started timestamptz := clock_timestamp();
  v_populated boolean;
  v_error text;
begin
  select ispopulated into v_populated from pg_matviews
   where format('%I.%I', schemaname, matviewname)::regclass = p_matview;
  v_marker := dashboard.inputs_marker(p_matview,
                coalesce((select calendar_sensitive from dashboard.matviews where matview = p_matview), true));
  select * into v_state from ops.refresh_state where target = p_matview::text;
  if not p_force and v_populated and v_state.inputs_marker is not null
     and (v_marker is null or v_marker <= v_state.inputs_marker) then
    perform dashboard.log_event('matview', p_matview::text, 'skipped', 0, 'inputs unchanged', v_started);
    return 'skipped';
  end if;
  begin
    if v_populated then
      execute format('refresh materialized view concurrently %s', p_matview);
    else
      execute format('refresh materialized view %s', p_matview);
    end if;
  exception when others then
    get stacked diagnostics v_error = message_text;
    insert into ops.refresh_state (target, last_failure_at, last_error)
    values (p_matview::text, clock_timestamp(), v_error)
    on conflict (target) do update set last_failure_at = excluded.last_failure_at,
                                       last_error = excluded.last_error;
    perform dashboard.log_event('matview', p_matview::text, 'failed', null, v_error, v_started);
    return 'failed';
  end;
  insert into ops.refresh_state (target, last_success_at, inputs_marker, last_error)
  values (p_matview::text, clock_timestamp(), v_marker, null)
  on conflict (target) do update set last_success_at = excluded.last_success_at,
                                     inputs_marker = excluded.inputs_marker, last_error = null;
  perform dashboard.log_event('matview', p_matview::text, 'ok', null, null, v_started);
  return 'ok';
end $$;

/* dashboard.populate_matviews(): the habit histories derived and the module rows merged (what
   mv_curriculum_progress reads), then a plain refresh of every materialized view, in order
   (after the schema is rebuilt; concurrent refreshes need a populated view). The module rows'
   merge is not recorded: the next cycle's merge compares them again. */
create or replace function dashboard.populate_matviews() returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  m record;
begin
  perform dashboard.derive_habit_history_step(true);
  perform dashboard.merge_modules_all();
  for m in select matview from dashboard.matviews order by refresh_order loop
    perform dashboard.refresh_matview(m.matview, true);
  end loop;
end $$;

/*
 * Merge functions of the serving tables, generated from the catalog (the columns the target
 * shares with its source), so adding a column to a view and a migration is all it takes:
 *   dashboard.merge_cache_all()          active students' rows from v_student_dashboard, only
 *                                        where something differs
 *   dashboard.merge_cache_one(user)      one student's row from v_student_dashboard_live, always
 *                                        stamped fresh
 *   dashboard.merge_curriculum_all()     every student's curriculum row from v_curriculum_progress,
 *                                        only where something differs: when the catalogue
 *                                        (tracks, modules, missions) changed, or a fifth of the
 *                                        students did
 *   dashboard.merge_curriculum_snapshot() the same from v_curriculum_snapshot (the materialized
 *                                        summary), when mv_curriculum_progress is current
 *   dashboard.merge_curriculum_one(user) one student's from v_curriculum_progress, stamped fresh
 *   dashboard.merge_curriculum_changed(users)  these students' rows (those whose curriculum rows
 *                                        or identity changed: dashboard.changed_students), computed
 *                                        one by one (a lateral join: the filter reaches inside the
 *                                        view's grouping), only where something differs
 *   dashboard.merge_missions_all()       every student x mission row from v_mission_progress,
 *                                        changed rows only, rows gone upstream deleted
 *   dashboard.merge_missions_one(user)   the same for one student
 *   dashboard.merge_missions_changed(since)  the same for the (student, mission) pairs whose
 *                                        submissions changed since (staging.submission_changes):
 *                                        the cycle's merge when the catalogue did not change
 *   dashboard.merge_modules_all()        every student x module row from v_module_progress,
 *                                        changed rows only, rows gone (another track, a deleted
 *                                        module or student) deleted
 *   dashboard.merge_modules_one(user)    the same for one student
 *   dashboard.merge_modules_changed(since, users)  the same for the (student, module) pairs
 *                                        whose progress changed since
 *                                        (staging.module_progress_changes), and every module row
 *                                        of these students (those whose track changed)
 * Each returns the rows written. They are PL/pgSQL functions with the statement as static SQL,
 * not text EXECUTE'd by the callers: PL/pgSQL keeps the plan for the session. Planning the live
 * view for one student costs more than running it (10 ms of planning against 6 ms of execution
 * at 10,000 students, 28 ms at 100,000), and a worker or an API connection refreshes student
 * after student in one session.
 */
create or replace function dashboard.compile_merge(
  p_target regclass, p_source regclass, p_keys text[], p_filter text, p_touch_always boolean,
  p_gone text, p_from text default null)   -- p_from: a FROM clause naming the rows `s` (else p_source s)
returns text
language plpgsql stable as $$
declare
  cols text[];
  col_list text;
  src_list text;
  cmp text;
  non_keys text[];
begin
  select array_agg(a.attname::text order by a.attnum) into cols
    from pg_attribute a
   where a.attrelid = p_target and a.attnum > 0 and not a.attisdropped
     and a.attname <> 'refreshed_at'
     and exists (select from pg_attribute s where s.attrelid = p_source and s.attname = a.attname
                   and s.attnum > 0 and not s.attisdropped);
  non_keys := array(select c from unnest(cols) c where c <> all(p_keys));
  col_list := dashboard.column_list(cols);
  src_list := dashboard.column_list(cols, 's');
  cmp := format('(%s) is distinct from (%s)',
                dashboard.column_list(non_keys, 't'), dashboard.column_list(non_keys, 'excluded'));
  return format(
    'with up as (insert into %1$s as t (%2$s, refreshed_at) select %10$s, now() from %3$s where %4$s '
    'on conflict (%5$s) do update set %6$s, refreshed_at = now() %7$s returning 1)%8$s '
    'select (select count(*) from up)%9$s',
    p_target, col_list, coalesce(p_from, p_source::text || ' s'), p_filter,
    dashboard.column_list(p_keys),
    (select string_agg(format('%1$I = excluded.%1$I', c), ', ') from unnest(non_keys) c),
    case when p_touch_always then '' else 'where ' || cmp || ' and t.refreshed_at < now()' end,
    case when p_gone is null then ''
         else format(', gone as (delete from %s t where %s returning 1)', p_target, p_gone) end,
    case when p_gone is null then '' else ' + (select count(*) from gone)' end,
    src_list);
end $$;

/* dashboard.define_merge(name, param, statement) creates dashboard.merge_<name>(param), where
   param (e.g. 'p_user uuid', or null for none) is the statement's $1, returning its row count. */
create or replace function dashboard.define_merge(p_name text, p_param text, p_statement text)
returns void
language plpgsql as $$
begin
  execute format(
    'create function dashboard.%I(%s) returns bigint language plpgsql %s as %L',
    'merge_' || p_name, coalesce(p_param, ''),
    -- a few students' rows: JIT (triggered by the views' estimates) only costs. One student's
    -- plan is kept (planning the live view costs twice its run); the changes since an instant
    -- are planned in each time (custom plans): a few rows take index scans, many a hash join
    case when p_param like 'p_since %' then 'set jit = off set plan_cache_mode = force_custom_plan'
         when p_param is not null then 'set jit = off' else '' end,
    format('declare v_rows bigint; begin %s into v_rows; return v_rows; end', p_statement));
end $$;

-- Full merges (p_touch_always false) never overwrite a row refreshed after the merging
-- transaction began (t.refreshed_at >= now()): a student refreshed on demand while the cycle
-- ran has newer data than the cycle's snapshots; the next cycle merges them as usual.
-- What is deleted ("gone"): cache rows of students no longer in identity (a student who is not
-- in the materialized view yet, e.g. cold-started since its last refresh, keeps their row), and
-- mission rows whose submission disappeared upstream.
select dashboard.define_merge(name, param, statement) from (values
  ('cache_all', null, dashboard.compile_merge('serving.student_dashboard_cache', 'dashboard.v_student_dashboard',
                                        '{user_id}', 's.active', false,
                                        'not exists (select from staging.identity_students i '
                                        'where i.id = t.user_id and i.deleted_at is null)')),
  ('cache_one', 'p_user uuid', dashboard.compile_merge('serving.student_dashboard_cache', 'dashboard.v_student_dashboard_live',
                                        '{user_id}', 's.user_id = $1', true, null)),
  ('curriculum_all', null, dashboard.compile_merge('serving.student_curriculum', 'dashboard.v_curriculum_progress',
                                        '{user_id}', 'true', false,
                                        'not exists (select from staging.identity_students i '
                                        'where i.id = t.user_id and i.deleted_at is null)')),
  ('curriculum_snapshot', null, dashboard.compile_merge('serving.student_curriculum', 'dashboard.v_curriculum_snapshot',
                                        '{user_id}', 'true', false,
                                        'not exists (select from staging.identity_students i '
                                        'where i.id = t.user_id and i.deleted_at is null)')),
  -- OFFSET 0 keeps the lateral subquery from being flattened into a join of the whole view
  ('curriculum_changed', 'p_users uuid[]', dashboard.compile_merge('serving.student_curriculum', 'dashboard.v_curriculum_progress',
                                        '{user_id}', 'true', false,
                                        't.user_id = any($1) and not exists (select from staging.identity_students i '
                                        'where i.id = t.user_id and i.deleted_at is null)',
                                        'unnest($1) c(user_id) cross join lateral '
                                        '(select * from dashboard.v_curriculum_progress v '
                                        'where v.user_id = c.user_id offset 0) s')),
  ('curriculum_one', 'p_user uuid', dashboard.compile_merge('serving.student_curriculum', 'dashboard.v_curriculum_progress',
                                        '{user_id}', 's.user_id = $1', true, null)),
  ('missions_all', null, dashboard.compile_merge('serving.student_mission_progress', 'dashboard.v_mission_progress',
                                           '{user_id,mission_id}', 'true', false,
                                           'not exists (select from dashboard.v_mission_progress s '
                                           'where s.user_id = t.user_id and s.mission_id = t.mission_id)')),
  ('missions_one', 'p_user uuid', dashboard.compile_merge('serving.student_mission_progress', 'dashboard.v_mission_progress',
                                           '{user_id,mission_id}', 's.user_id = $1', false,
                                           't.user_id = $1 and not exists (select from dashboard.v_mission_progress s '
                                           'where s.user_id = $1 and s.user_id = t.user_id and s.mission_id = t.mission_id)')),
  ('missions_changed', 'p_since timestamptz, p_seen xid8, p_read pg_snapshot', dashboard.compile_merge('serving.student_mission_progress', 'dashboard.v_mission_progress',
                                           '{user_id,mission_id}',
                                           '(s.user_id, s.mission_id) in (select c.student_id, c.mission_id '
                                           'from staging.submission_changes c where dashboard.change_unseen(c.changed_at, c.written_by, $1, $2, $3))', false,
                                           -- the changed pairs that the view no longer has, then their served rows:
                                           -- testing the served rows against the view instead hashed every served
                                           -- row (5.0 s against 2.2 s after 100% changed at 100,000 students)
                                           '(t.user_id, t.mission_id) in (select c.student_id, c.mission_id '
                                           'from staging.submission_changes c where dashboard.change_unseen(c.changed_at, c.written_by, $1, $2, $3) '
                                           'and not exists (select from dashboard.v_mission_progress s '
                                           'where s.user_id = c.student_id and s.mission_id = c.mission_id))')),
  ('modules_all', null, dashboard.compile_merge('serving.student_module_progress', 'dashboard.v_module_progress',
                                           '{user_id,module_id}', 'true', false,
                                           'not exists (select from dashboard.v_module_progress s '
                                           'where s.user_id = t.user_id and s.module_id = t.module_id)')),
  ('modules_one', 'p_user uuid', dashboard.compile_merge('serving.student_module_progress', 'dashboard.v_module_progress',
                                           '{user_id,module_id}', 's.user_id = $1', false,
                                           't.user_id = $1 and not exists (select from dashboard.v_module_progress s '
                                           'where s.user_id = $1 and s.user_id = t.user_id and s.module_id = t.module_id)')),
  -- UNION, not UNION ALL: a pair both changed and of a student whose track changed is one row
  -- (ON CONFLICT refuses to update a row twice)
  ('modules_changed', 'p_since timestamptz, p_seen xid8, p_read pg_snapshot, p_users uuid[]', dashboard.compile_merge(
                                           'serving.student_module_progress', 'dashboard.v_module_progress',
                                           '{user_id,module_id}', 'true', false,
                                           -- gone: only rows of these students (a changed progress row of a module
                                           -- still in the track is a row, 0 % when deleted; modules leaving a track
                                           -- are a catalogue change), their served keys but those of the view, per
                                           -- student (an anti join with the view hashed all of it: 2.2-6.8 s at
                                           -- 100,000 students, for no student or a thousand)
                                           '(t.user_id, t.module_id) in (select k.user_id, k.module_id '
                                           'from serving.student_module_progress k where k.user_id = any($4) '
                                           'except select w.user_id, w.module_id from unnest($4) u(user_id) cross join lateral '
                                           '(select * from dashboard.v_module_progress w where w.user_id = u.user_id offset 0) w)',
                                           -- the changed pairs' rows one by one (OFFSET 0 keeps each lateral
                                           -- subquery its own index lookups): a join with the view hashed all
                                           -- 3.9 million progress rows, 4.2 s against 2.8 s for 95,000 pairs
                                           '(select v.* from (select distinct c.student_id, c.module_id '
                                           'from staging.module_progress_changes c where dashboard.change_unseen(c.changed_at, c.written_by, $1, $2, $3)) c '
                                           'cross join lateral (select * from dashboard.v_module_progress w '
                                           'where w.user_id = c.student_id and w.module_id = c.module_id offset 0) v '
                                           'union select v.* from unnest($4) u(user_id) cross join lateral '
                                           '(select * from dashboard.v_module_progress w where w.user_id = u.user_id offset 0) v) s'))
) m(name, param, statement);

/* Advisory lock keys (the first int of pg_try_advisory_xact_lock(int, int)). */
create or replace function dashboard.lock_class(p_name text) returns integer
language sql immutable as $$
  select case p_name when 'refresh_all' then 74201 when 'queue' then 74202
                     when 'student' then 74203 when 'matview' then 74204 end
$$;

/*
 * dashboard.recompute_student(user_id) -> jsonb {user_id, found, cache_rows, mission_rows}
 * One student's habit histories, cache row, curriculum row and mission rows recomputed from
 * staging as it is now (the live views), without asking the upstreams. The second half of
 * refresh_student.
 */
create or replace function dashboard.recompute_student(p_user uuid) returns jsonb
language plpgsql security definer set search_path = pg_catalog, pg_temp set jit = off as $$
declare
  v_cache bigint;
  v_missions bigint;
begin
  if not exists (select from staging.identity_students where id = p_user and deleted_at is null) then
    delete from serving.student_dashboard_cache where user_id = p_user;
    delete from serving.student_curriculum where user_id = p_user;
    delete from serving.student_module_progress where user_id = p_user;
    delete from serving.student_mission_progress where user_id = p_user;
    return jsonb_build_object('user_id', p_user, 'found', false);
  end if;
  perform dashboard.derive_habit_history(array[p_user]);
  v_cache := dashboard.merge_cache_one(p_user);
  perform dashboard.merge_curriculum_one(p_user);
  perform dashboard.merge_modules_one(p_user);
  v_missions := dashboard.merge_missions_one(p_user);
  return jsonb_build_object('user_id', p_user, 'found', true, 'cache_rows', v_cache, 'mission_rows', v_missions);
end $$;

/*
 * dashboard.refresh_student(user_id) -> jsonb {user_id, found, staging_rows, cache_rows, mission_rows, ms}
 * One student, now: pulls their rows from every upstream into staging (user_id pushed down to
 * the remote side), then recomputes their cache row and mission rows (recompute_student).
 * Serves cold starts, stale rows and the student's own actions. Concurrent calls for the same
 * student queue behind each other (advisory lock); other students are not blocked.
 * Callers: dashboard_worker (RQ), dashboard_dba (psql), the API's cold start (through
 * api.refresh_my_dashboard).
 */
create or replace function dashboard.refresh_student(p_user uuid) returns jsonb
language plpgsql security definer set search_path = pg_catalog, pg_temp
-- One student's rows are a few hundred: JIT compilation (the planner's estimates of the views
-- trigger it) cost seconds here and saves nothing.
set jit = off
as $$
declare
  v_started timestamptz := clock_timestamp();
  v_staging bigint;
  v_result jsonb;
  v_log bigint;
begin
  if p_user is null then
    raise exception 'refresh_student needs a student id' using errcode = '22004';
  end if;
  perform pg_advisory_xact_lock(dashboard.lock_class('student'), hashtext(p_user::text));
  v_log := dashboard.log_start('student', p_user::text);
  v_staging := dashboard.load_student_staging(p_user);
  v_result := dashboard.recompute_student(p_user);
  perform dashboard.run_notify_step(p_user) where (v_result ->> 'found')::boolean;  -- push notifications now due (never fails the refresh)
  perform dashboard.log_finish(v_log, case when (v_result ->> 'found')::boolean then 'ok' else 'skipped' end,
                               v_staging + coalesce((v_result ->> 'cache_rows')::bigint, 0)
                                         + coalesce((v_result ->> 'mission_rows')::bigint, 0),
                               case when not (v_result ->> 'found')::boolean then 'no such student' end);
  return v_result || jsonb_build_object('staging_rows', v_staging,
    'ms', round((extract(epoch from clock_timestamp() - v_started) * 1000)::numeric, 1));
end $$;
comment on function dashboard.refresh_student(uuid) is
  'Refresh one student now: upstream rows into staging, then their cache row and mission rows.';

/*
 * dashboard.derive_habit_history_step(force) -> rows written, or 'failed'
 * The cycle's step for dashboard.habit_history (sql/views/habit_history.sql), from what changed
 * since the previous step:
 *   - students whose habits changed, or whose timezone changed or who were deleted upstream,
 *     are derived again from all their logs (dashboard.derive_habit_history);
 *   - habits whose logs changed (staging.habit_day_changes) get only the changed days patched
 *     (dashboard.patch_habit_history);
 *   - every history whose local day moved on is walked again (dashboard.roll_habit_history).
 * Everything when forced, on the first run, when the table is empty, when a fifth of the
 * students must be derived whole, after a bulk load of logs, or when the previous success is
 * older than the change log's retention (finish_cycle keeps an hour). A failure is logged and
 * leaves the previous histories (readers still walk them as of today).
 */
create or replace function dashboard.derive_habit_history_step(p_force boolean default false) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp
set work_mem = '1GB'                      -- as the cycle, also when populate_matviews calls it
set max_parallel_workers_per_gather = 0
set jit = off
as $$
declare
  v_state ops.refresh_state;
  v_full boolean;
  v_users uuid[];
  v_rows bigint := 0;
  v_patched bigint := 0;
  v_rolled bigint := 0;
  v_started timestamptz := clock_timestamp();
  v_read pg_snapshot := pg_current_snapshot();   -- before any read: what this pass can see
  v_error text;
begin
  select * into v_state from ops.refresh_state where target = 'dashboard.habit_history';
  v_full := p_force or v_state.inputs_marker is null
            or v_state.inputs_marker < now() - interval '50 minutes'
            or not exists (select from dashboard.habit_history);
  if not v_full then
    select c.users, c.full_pass into v_users, v_full
      from dashboard.changed_students('{coaching_habits}', v_state.inputs_marker, v_state.last_success_xid,
                                     v_state.last_read_snapshot) c;
    -- of the students identity changed (a login changes them all), those whose histories it
    -- changes: another timezone, or gone
    v_users := array(
      select u from unnest(v_users) u
      union
      select hh.user_id
        from (select unnest(c.users) as user_id
                from dashboard.changed_students('{identity_students}', v_state.inputs_marker,
                                                v_state.last_success_xid, v_state.last_read_snapshot) c) ch
        join dashboard.habit_history hh on hh.user_id = ch.user_id
        left join staging.identity_students i on i.id = hh.user_id and i.deleted_at is null
       where i.id is null or coalesce(i.timezone, '') <> hh.zone);
    v_full := v_full
              or cardinality(v_users) > (select count(*) / 5 from staging.identity_students)
              or exists (select from staging.habit_day_changes c where c.habit_id is null
                          and dashboard.change_unseen(c.changed_at, c.written_by, v_state.inputs_marker,
                                                      v_state.last_success_xid, v_state.last_read_snapshot));
  end if;
  begin
    if v_full then
      v_rows := dashboard.derive_habit_history(null);
    else
      if cardinality(v_users) > 0 then
        v_rows := dashboard.derive_habit_history(v_users);
      end if;
      v_patched := dashboard.patch_habit_history(v_state.inputs_marker, v_state.last_success_xid,
                                                  v_state.last_read_snapshot, v_users);
      v_rolled := dashboard.roll_habit_history();
      v_rows := v_rows + v_patched + v_rolled;
    end if;
  exception when others then
    get stacked diagnostics v_error = message_text;
    insert into ops.refresh_state (target, last_failure_at, last_error)
    values ('dashboard.habit_history', clock_timestamp(), v_error)
    on conflict (target) do update set last_failure_at = excluded.last_failure_at,
                                       last_error = excluded.last_error;
    perform dashboard.log_event('derive', 'dashboard.habit_history', 'failed', null, v_error, v_started);
    return 'failed';
  end;
  -- inputs_marker: the changes consumed, up to this step's start: the cycle's own loads came
  -- before it (a marker at the transaction's start had the next cycle patch them all again). A
  -- per-student refresh committing later derives its own student.
  insert into ops.refresh_state as st (target, last_success_at, last_success_xid, last_read_snapshot,
                                       inputs_marker, last_rows, changed_at)
  values ('dashboard.habit_history', clock_timestamp(), pg_current_xact_id(), v_read, v_started, v_rows,
          case when v_rows > 0 then clock_timestamp() end)
  on conflict (target) do update set last_success_at = excluded.last_success_at,
    last_success_xid = excluded.last_success_xid, last_read_snapshot = excluded.last_read_snapshot,
    inputs_marker = excluded.inputs_marker, last_rows = excluded.last_rows, last_error = null,
    changed_at = coalesce(excluded.changed_at, st.changed_at);
  perform dashboard.log_event('derive', 'dashboard.habit_history', 'ok', v_rows,
                              case when v_full then 'full'
                                   else format('%s students derived whole, %s rows patched, %s rolled',
                                               cardinality(v_users), v_patched, v_rolled) end,
                              v_started);
  return v_rows::text;
end $$;

/*
 * The 5-minute cycle as a list of steps, so the job (dashboard.refresh_all) and the DBA's
 * `och-dashboard refresh --all` (which shows a progress bar) run exactly the same thing:
 *   staging:<table>   incremental load of one staging table (skipped when its upstream already
 *                     failed in this cycle)
 *   derive:<table>    a derived table maintained incrementally: dashboard.habit_history
 *                     (dashboard.derive_habit_history_step)
 *   merge:<table>     merge a serving table, only when its inputs moved since its last merge:
 *                     the module rows before the materialized views (mv_curriculum_progress
 *                     aggregates them), the others after (they read the views)
 *   matview:<name>    dashboard.refresh_matview: concurrently, only when its inputs changed
 *   notify:outbox     push notifications now due (dashboard.run_notify_step, sql/functions/notifications.sql)
 * All steps of a cycle run in one transaction that holds the cycle's advisory lock.
 */
create or replace function dashboard.cycle_steps() returns setof text
language sql stable as $$
  (select 'staging:' || staging_table from staging.sources order by service, staging_table)
  union all
  select 'derive:dashboard.habit_history'
  union all
  select 'merge:serving.student_module_progress'
  union all
  (select 'matview:' || matview::text from dashboard.matviews order by refresh_order)
  union all
  select 'merge:' || t from unnest(array['serving.student_dashboard_cache',
                                         'serving.student_curriculum',
                                         'serving.student_mission_progress']) t
  union all
  select 'notify:outbox'
$$;

/* dashboard.try_begin_cycle() -> false when another cycle holds the lock (logged as skipped). */
create or replace function dashboard.try_begin_cycle() returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if pg_try_advisory_xact_lock(dashboard.lock_class('refresh_all'), 0) then
    return true;
  end if;
  perform dashboard.log_event('cycle', 'refresh_all', 'skipped', 0, 'another run holds the lock', clock_timestamp());
  return false;
end $$;

/*
 * dashboard.merge_needs_full_pass(state, force, catalogues, capture) -> whether a serving table's
 * merge must take every row instead of the changes since its last success: when forced, on its
 * first run, when that run is older than the change logs' retention (finish_cycle keeps an hour),
 * when one of the catalogue staging tables every row shows changed since, or when a bulk load
 * wrote more rows than the capture table (a staging change log of (student_id, ...) keys) lists.
 */
create or replace function dashboard.merge_needs_full_pass(p_state ops.refresh_state, p_force boolean,
                                                          p_catalogues text[], p_capture text default null)
returns boolean
language plpgsql stable as $$
declare
  v_bulk boolean := false;
begin
  if p_force or p_state.last_success_at is null
     or p_state.last_success_at < now() - interval '50 minutes'
     or exists (select from unnest(p_catalogues) c(staging_table)
                 where dashboard.staging_marker(c.staging_table) > p_state.inputs_marker) then
    return true;
  end if;
  if p_capture is not null then
    execute format('select exists (select from staging.%I c where c.student_id is null '
                   'and dashboard.change_unseen(c.changed_at, c.written_by, $1, $2, $3))', p_capture)
      into v_bulk using p_state.last_success_at, p_state.last_success_xid, p_state.last_read_snapshot;
  end if;
  return v_bulk;
end $$;

/* dashboard.run_cycle_step(step, force) -> outcome ('ok', 'skipped', 'failed' or rows merged). */
create or replace function dashboard.run_cycle_step(p_step text, p_force boolean default false) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp
set work_mem = '1GB'                      -- as dashboard.refresh_all, for `och-dashboard refresh --all`
set max_parallel_workers_per_gather = 0   -- which runs the steps one by one
set jit = off
as $$
declare
  v_kind text := split_part(p_step, ':', 1);
  v_name text := substr(p_step, length(split_part(p_step, ':', 1)) + 2);
  v_service text;
  v_started timestamptz := clock_timestamp();
  v_rows bigint;
  v_error text;
  v_marker timestamptz;
  v_state ops.refresh_state;
  v_full boolean;
  v_users uuid[];
  v_read pg_snapshot;
begin
  if not pg_try_advisory_xact_lock(dashboard.lock_class('refresh_all'), 0) then
    -- the lock is re-entrant for its holder: failing here means another cycle runs
    raise exception 'another refresh cycle is running' using errcode = '55P03';
  end if;
  case v_kind
  when 'staging' then
    select service into strict v_service from staging.sources where staging_table = v_name;
    -- an upstream that failed earlier in this transaction is not asked again
    if exists (select from staging.sources where service = v_service and last_error_at >= now()) then
      perform dashboard.log_event('staging', v_name, 'skipped', 0,
                                  'upstream ' || v_service || ' failed earlier in this cycle', v_started);
      return 'skipped';
    end if;
    begin
      v_rows := dashboard.load_staging_table(v_name, false);
      perform dashboard.log_event('staging', v_name, 'ok', v_rows, null, v_started);
      return 'ok';
    exception when others then
      get stacked diagnostics v_error = message_text;
      update staging.sources set last_error = v_error, last_error_at = clock_timestamp()
       where staging_table = v_name;
      perform dashboard.log_event('staging', v_name, 'failed', null, v_error, v_started);
      return 'failed';
    end;
  when 'derive' then
    return dashboard.derive_habit_history_step(p_force);
  when 'matview' then
    return dashboard.refresh_matview(v_name::regclass, p_force);
  when 'merge' then
    -- taken before any read: each later statement's snapshot sees at least as much, so a change
    -- whose writer this one shows committed was read (dashboard.change_unseen)
    v_read := pg_current_snapshot();
    -- a serving table's marker: the latest change among the inputs of the view it is merged from
    v_marker := case v_name
      when 'serving.student_dashboard_cache' then dashboard.inputs_marker('dashboard.v_student_dashboard', true)
      when 'serving.student_curriculum' then dashboard.inputs_marker('dashboard.v_curriculum_progress', false)
      when 'serving.student_module_progress' then dashboard.inputs_marker('dashboard.v_module_progress', false)
      else dashboard.inputs_marker('dashboard.v_mission_progress', false) end;
    if not p_force and (v_marker is null or v_marker <=
         (select inputs_marker from ops.refresh_state where target = v_name)) then
      perform dashboard.log_event('cache', v_name, 'skipped', 0, 'inputs unchanged', v_started);
      return 'skipped';
    end if;
    if v_name = 'serving.student_dashboard_cache' then
      v_rows := dashboard.merge_cache_all();
    elsif v_name = 'serving.student_curriculum' then
      -- curriculum rows: only the students whose curriculum or identity changed, unless a
      -- catalogue changed (every row shows module and mission titles) or a fifth of the
      -- students changed (one pass is cheaper), or dashboard.merge_needs_full_pass says so. The
      -- whole pass reads the materialized summary when its refresh saw the summary's inputs as
      -- they are now (refreshed or skipped earlier in this cycle; the recommended missions are
      -- read live either way), else the live view.
      select * into v_state from ops.refresh_state where target = v_name;
      select c.users, c.full_pass into v_users, v_full
        from dashboard.changed_students(
               array(select v.staging_table from dashboard.view_staging_inputs('dashboard.v_curriculum_progress') v
                      where v.per_student),
               v_state.last_success_at, v_state.last_success_xid, v_state.last_read_snapshot) c;
      v_full := v_full or dashboard.merge_needs_full_pass(v_state, p_force,
                  array(select v.staging_table from dashboard.view_staging_inputs('dashboard.v_curriculum_progress') v
                         where not v.per_student));
      v_rows := case
        when not v_full then dashboard.merge_curriculum_changed(v_users)
        when (select inputs_marker from ops.refresh_state
               where target = 'dashboard.mv_curriculum_progress')
             >= dashboard.inputs_marker('dashboard.v_curriculum_summary', false)
          then dashboard.merge_curriculum_snapshot()
        else dashboard.merge_curriculum_all() end;
    elsif v_name = 'serving.student_module_progress' then
      -- module rows: only the (student, module) pairs whose progress changed, and every row of
      -- the students whose track changed (identity changed and the served rows are of another
      -- track, or none are served), unless the module catalogue changed (every row shows a
      -- module's title and position) or dashboard.merge_needs_full_pass says so
      select * into v_state from ops.refresh_state where target = v_name;
      v_full := dashboard.merge_needs_full_pass(v_state, p_force, '{curriculum_modules}', 'module_progress_changes');
      if not v_full then
        v_users := array(
          select c.user_id
            from (select distinct user_id from staging.student_changes
                   where staging_table = 'identity_students'
                     and dashboard.change_unseen(changed_at, written_by, v_state.last_success_at,
                                                 v_state.last_success_xid, v_state.last_read_snapshot)) c
           where (select t.track_code from serving.student_module_progress t where t.user_id = c.user_id limit 1)
                 is distinct from
                 (select i.track_code from staging.identity_students i where i.id = c.user_id and i.deleted_at is null));
      end if;
      v_rows := case when v_full then dashboard.merge_modules_all()
                     else dashboard.merge_modules_changed(v_state.last_success_at, v_state.last_success_xid,
                                                                    v_state.last_read_snapshot, v_users) end;
    else
      -- mission rows: only the (student, mission) pairs whose submissions changed
      -- (staging.submission_changes, unseen by its last pass: dashboard.change_unseen), unless the mission catalogue
      -- changed (every row shows its title) or dashboard.merge_needs_full_pass says so
      select * into v_state from ops.refresh_state where target = v_name;
      v_full := dashboard.merge_needs_full_pass(v_state, p_force, '{missions_missions}', 'submission_changes');
      v_rows := case when v_full then dashboard.merge_missions_all()
                     else dashboard.merge_missions_changed(v_state.last_success_at, v_state.last_success_xid,
                                                                     v_state.last_read_snapshot) end;
    end if;
    insert into ops.refresh_state (target, last_success_at, last_success_xid, last_read_snapshot,
                                   inputs_marker, last_rows)
    values (v_name, clock_timestamp(), pg_current_xact_id(), v_read, v_marker, v_rows)
    on conflict (target) do update set last_success_at = excluded.last_success_at,
      last_success_xid = excluded.last_success_xid, last_read_snapshot = excluded.last_read_snapshot,
      inputs_marker = excluded.inputs_marker, last_rows = excluded.last_rows, last_error = null;
    perform dashboard.log_event('cache', v_name, 'ok', v_rows, null, v_started);
    return v_rows::text;
  when 'notify' then
    return dashboard.run_notify_step(null);
  else
    raise exception 'unknown refresh step %', p_step using errcode = '22023';
  end case;
end $$;

/* dashboard.finish_cycle(): closes a cycle; unknown tier names (served as free, fail closed)
   are reported where a DBA looks. */
create or replace function dashboard.finish_cycle(p_started timestamptz, p_summary jsonb) returns jsonb
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_unknown text;
begin
  select string_agg(distinct tier, ', ') into v_unknown from dashboard.mv_subscription where not tier_known;
  -- only each table's latest change event matters: fold old ones into the table's marker (the
  -- cycle holds these rows already), then drop them
  update staging.sources s
     set changed_at = greatest(s.changed_at, e.latest)
    from (select staging_table, max(changed_at) as latest from staging.change_events
           where changed_at < now() - interval '1 hour' group by staging_table) e
   where e.staging_table = s.staging_table;
  delete from staging.change_events where changed_at < now() - interval '1 hour';
  delete from staging.student_changes where changed_at < now() - interval '1 hour';
  delete from staging.habit_day_changes where changed_at < now() - interval '1 hour';
  delete from staging.submission_changes where changed_at < now() - interval '1 hour';
  delete from staging.module_progress_changes where changed_at < now() - interval '1 hour';
  perform dashboard.log_event('cycle', 'refresh_all', 'ok', null,
                              case when v_unknown is not null
                                   then 'subscription tiers treated as free: ' || v_unknown end,
                              p_started);
  return p_summary;
end $$;

/*
 * dashboard.refresh_all(force) -> jsonb {step: outcome}
 * The periodic cycle: every step of dashboard.cycle_steps() in order, in one transaction. Skips
 * at once (returns {"skipped": true}) when another run holds the cycle's lock.
 */
create or replace function dashboard.refresh_all(p_force boolean default false) returns jsonb
language plpgsql security definer set search_path = pg_catalog, pg_temp
set work_mem = '1GB'   -- the domain views sort millions of log rows (14M at 100,000 students): in memory
-- No JIT: compiling the cycle's queries cost more than it saved (0.7 s of a 0.04 s roll of the
-- habit histories; 1.3 s of a 0.2 s derive), their estimates being far above what they touch.
set jit = off
-- One core for the cycle: parallel workers would take every core of the database server from
-- the API for the cycle's duration (the API's p99 went from 18 to 498 ms during a full cycle on
-- two cores). A DBA with cores to spare can raise it: alter function ... set max_parallel_workers_per_gather.
set max_parallel_workers_per_gather = 0
as $$
declare
  v_step text;
  v_results jsonb := '{}'::jsonb;
  v_started timestamptz := clock_timestamp();
begin
  if not dashboard.try_begin_cycle() then
    return jsonb_build_object('skipped', true);
  end if;
  for v_step in select * from dashboard.cycle_steps() loop
    v_results := v_results || jsonb_build_object(v_step, dashboard.run_cycle_step(v_step, p_force));
  end loop;
  return dashboard.finish_cycle(v_started, v_results);
end $$;
/*
 * dashboard.enqueue_update(user_id, priority, reason) -> (id, priority, created)
 * Queues a refresh of one student's dashboard. One pending entry per student: a new event for a
 * student already queued raises the pending entry's priority (never lowers it) instead of
 * adding a duplicate. An entry already pending at this priority or above is returned as it is,
 * without writing: every read of a stale dashboard lands here (all of them at once when a cycle
 * runs late), and a write would make each one a commit waiting on the WAL flush behind the
 * cycle's writes.
 */
create or replace function dashboard.enqueue_update(p_user uuid, p_priority ops.update_priority, p_reason text)
returns table (id bigint, priority ops.update_priority, created boolean)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
#variable_conflict use_column
begin
  return query select q.id, q.priority, false from ops.dashboard_update_queue q
                where q.user_id = p_user and q.status = 'pending' and q.priority <= p_priority;
  if not found then
    return query
    insert into ops.dashboard_update_queue as q (user_id, priority, reason)
    values (p_user, p_priority, p_reason)
    on conflict (user_id) where status = 'pending'
    do update set priority = least(q.priority, excluded.priority),
                  reason = case when excluded.priority < q.priority then excluded.reason else q.reason end,
                  updated_at = now()
    returning q.id, q.priority, (q.xmax = 0);
  end if;
end $$;

/*
 * dashboard.process_update_queue(max) -> jsonb {processed, failed, remaining}
 * Drains up to `max` pending entries that are due, urgent > high > normal > low then oldest
 * first, claimed with FOR UPDATE SKIP LOCKED so several drainers share the work. Each entry is
 * refreshed in its own subtransaction: a failure is retried later with backoff (30 s x 2^attempt),
 * keeping the last error, and gives up (status failed) after 5 attempts.
 */
create or replace function dashboard.process_update_queue(p_max integer default 200) returns jsonb
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  e record;
  v_done integer := 0;
  v_failed integer := 0;
  v_log bigint;
  v_error text;
begin
  if p_max is null or p_max < 1 or p_max > 10000 then
    raise exception 'max must be between 1 and 10000' using errcode = '22023';
  end if;
  -- One drainer at a time (two schedulers, or a slow batch overlapping the next minute).
  if not pg_try_advisory_xact_lock(dashboard.lock_class('queue'), 0) then
    perform dashboard.log_event('queue_batch', null, 'skipped', 0, 'another run holds the lock', clock_timestamp());
    return jsonb_build_object('skipped', true);
  end if;
  v_log := dashboard.log_start('queue_batch', null);
  for e in select q.id, q.user_id, q.attempts
             from ops.dashboard_update_queue q
            where q.status = 'pending' and q.not_before <= now()
            order by q.priority, q.enqueued_at
            limit p_max
            for update skip locked loop
    begin
      perform dashboard.refresh_student(e.user_id);
      update ops.dashboard_update_queue
         set status = 'done', processed_at = now(), updated_at = now(), attempts = e.attempts + 1
       where id = e.id;
      v_done := v_done + 1;
    exception when others then
      get stacked diagnostics v_error = message_text;
      update ops.dashboard_update_queue
         set attempts = e.attempts + 1, last_error = v_error, updated_at = now(),
             status = case when e.attempts + 1 >= 5 then 'failed' else 'pending' end,
             not_before = now() + make_interval(secs => 30 * power(2, e.attempts))
       where id = e.id;
      v_failed := v_failed + 1;
    end;
  end loop;
  perform dashboard.log_finish(v_log, 'ok', v_done, case when v_failed > 0 then v_failed || ' failed' end);
  return jsonb_build_object('processed', v_done, 'failed', v_failed,
    'remaining', (select count(*) from ops.dashboard_update_queue where status = 'pending'));
end $$;
comment on function dashboard.process_update_queue(integer) is
  'Drain the update queue in priority order (urgent first), SKIP LOCKED, with retries and a cap.';

grant execute on function dashboard.refresh_all(boolean), dashboard.refresh_student(uuid),
  dashboard.recompute_student(uuid),
  dashboard.cycle_steps(), dashboard.try_begin_cycle(), dashboard.run_cycle_step(text, boolean),
  dashboard.finish_cycle(timestamptz, jsonb), dashboard.derive_habit_history_step(boolean),
  dashboard.process_update_queue(integer), dashboard.refresh_matview(regclass, boolean),
  dashboard.enqueue_update(uuid, ops.update_priority, text)
  to dashboard_worker, dashboard_dba;

/*
 * dashboard.sync_student_missions(user_id) -> rows changed
 * The missions funnel read path: pulls one student's submissions from the missions service
 * (one remote query, student_id pushed down) into staging and re-merges their mission rows, so
 * an upstream status change shows on the next read instead of the next cycle.
 *
 * Upstream down or failing: the error reaches the caller, and the API reads the last synced rows
 * in a new transaction (student.py, MissionsView). Not caught here: an exception block is a
 * subtransaction, and postgres_fdw mirrors it on the remote side (SAVEPOINT, RELEASE SAVEPOINT),
 * two of the seven round trips to the missions service on every read, which at 100,000 students
 * took 0.52-0.65 ms per call against 0.34-0.42 without (bench/README.md).
 */
create or replace function dashboard.sync_student_missions(p_user uuid) returns bigint
language plpgsql security definer set search_path = pg_catalog, pg_temp set jit = off as $$
declare
  v_rows bigint := 0;
  v_remote record;
  v_local record;
begin
  -- One aggregate, computed remotely (pushed down): nothing moves when nothing changed, which
  -- is nearly every read. A soft delete bumps updated_at; a hard delete changes the count.
  select max(updated_at) as changed, count(*) filter (where deleted_at is null) as live
    into v_remote from fdw_missions.submissions where student_id = p_user;
  select max(updated_at) as changed, count(*) as live
    into v_local from staging.missions_submissions where student_id = p_user;
  if v_remote.changed is not distinct from v_local.changed and v_remote.live = v_local.live then
    return 0;
  end if;
  -- a change moves the table's marker: the funnel counts (mv_mission_funnel) follow on the next cycle
  v_rows := dashboard.student_load_missions_submissions(p_user);
  return v_rows + dashboard.merge_missions_one(p_user);
end $$;

/*
 * dashboard.refresh_status: what a DBA watches. One row per refresh target (materialized view
 * or serving table) and per upstream service:
 *   kind, name, last_success_at, last_failure_at, last_error, age (since last success),
 *   rows (live tuples, from the statistics collector), stale (older than two refresh periods,
 *   10 minutes by default: set dashboard.stale_after to change it), ok.
 */
create view dashboard.refresh_status as
select 'target'::text as kind, m.target as name, m.last_success_at, m.last_failure_at, m.last_error,
       now() - m.last_success_at as age,
       (select n_live_tup from pg_stat_user_tables s where s.relid = to_regclass(m.target)) as rows,
       coalesce(now() - m.last_success_at > coalesce(nullif(current_setting('dashboard.stale_after', true), '')::interval,
                                                     interval '10 minutes'), true) as stale,
       m.last_success_at is not null and (m.last_failure_at is null or m.last_failure_at < m.last_success_at) as ok
  from ops.refresh_state m
union all
select 'upstream', s.service, max(s.last_loaded_at), max(s.last_error_at),
       (array_agg(s.last_error order by s.last_error_at desc nulls last))[1],
       now() - min(s.last_loaded_at), sum(s.last_rows),
       coalesce(now() - min(s.last_loaded_at) > coalesce(nullif(current_setting('dashboard.stale_after', true), '')::interval,
                                                         interval '10 minutes'), true),
       bool_and(s.last_error is null and s.last_loaded_at is not null)
  from staging.sources s
 group by s.service;
comment on view dashboard.refresh_status is
  'Per refresh target and upstream: last success/failure, age, rows, stale and ok (for DBAs).';
grant select on dashboard.refresh_status to dashboard_dba, dashboard_analyst, dashboard_worker;

/* dashboard.queue_status: pending entries by priority and the oldest one's age. */
create view dashboard.queue_status as
select p.priority, count(q.id) as pending, now() - min(q.enqueued_at) as oldest_age,
       (select count(*) from ops.dashboard_update_queue f where f.status = 'failed' and f.priority = p.priority) as failed
  from unnest(enum_range(null::ops.update_priority)) p(priority)
  left join ops.dashboard_update_queue q on q.priority = p.priority and q.status = 'pending'
 group by p.priority
 order by p.priority;
comment on view dashboard.queue_status is 'Update queue depth by priority, oldest pending age, failures.';
grant select on dashboard.queue_status to dashboard_dba, dashboard_analyst, dashboard_worker;
