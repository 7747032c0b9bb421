-- Loading staging from the upstream foreign tables.
--
-- One mechanism for every staging table: the statements are generated once from the catalog
-- (the staging table's columns that the foreign table also has, and its primary key) into
-- dashboard.staging_statements, so a load runs precompiled SQL and a new staging table needs
-- only a row in staging.sources.
--
-- Incremental loads read rows whose updated_at is past the previous load's start minus an
-- overlap (late commits and clock skew slip past a plain watermark), upsert them only where something differs
-- (a re-read costs no write), and delete rows the upstream soft-deleted. A full load reads all
-- rows and also deletes staging rows whose key is gone upstream (hard deletes).

create table dashboard.staging_statements (
  staging_table  text primary key,
  service        text not null,
  student_column text,
  incremental    text not null,    -- $1: the lower bound on updated_at (null: everything),
                                    -- $2: the previous load's start
  full_reload    text not null,
  initial_load   text not null,    -- into an empty table: a plain insert, no conflict handling
  per_student    text              -- $1: the student id
);

/* The generated statements' column lists: dashboard.column_list(cols, alias) is "a.c1, a.c2"
   (the bare quoted names without an alias); dashboard.columns_equal(cols, a, b) is
   "a.c1 = b.c1 and a.c2 = b.c2". Used by the staging loads here and the serving merges
   (sql/functions/refresh.sql). */
create or replace function dashboard.column_list(p_cols text[], p_alias text default null)
returns text language sql immutable as $$
  select string_agg(case when p_alias is null then format('%I', c) else format('%s.%I', p_alias, c) end,
                    ', ' order by n)
    from unnest(p_cols) with ordinality u(c, n)
$$;

create or replace function dashboard.columns_equal(p_cols text[], p_left text, p_right text)
returns text language sql immutable as $$
  select string_agg(format('%1$s.%3$I = %2$s.%3$I', p_left, p_right, c), ' and ' order by n)
    from unnest(p_cols) with ordinality u(c, n)
$$;

/* dashboard.compile_staging_statements(): (re)generates dashboard.staging_statements from the
   catalog. Run by every schema upgrade after the objects are applied. */
create or replace function dashboard.compile_staging_statements() returns integer
language plpgsql as $$
declare
  s record;
  cols text[];
  keys text[];
  non_keys text[];
  col_list text;
  key_match text;
  set_list text;
  distinct_cond text;
  has_deleted boolean;
  has_updated boolean;
  src text;
  held_as_read text;       -- staging's row o is the read row src, key and columns
  unchanged text;
  held_unchanged text;
  upsert_rows text;
  upsert_conflict text;
  upsert text;
  upsert_incremental text;
  student_ref text;
  record_changes text;
  per_student_sql text;
  loader regprocedure;
  n integer := 0;
begin
  delete from dashboard.staging_statements;
  -- the per-student loaders of tables no longer staged (or staged differently) go with them
  for loader in select p.oid from pg_proc p
                 where p.pronamespace = 'dashboard'::regnamespace and p.proname like 'student\_load\_%' loop
    execute format('drop function %s', loader);
  end loop;
  for s in select * from staging.sources order by staging_table loop
    select array_agg(a.attname::text order by a.attnum) into cols
      from pg_attribute a
     where a.attrelid = format('staging.%I', s.staging_table)::regclass
       and a.attnum > 0 and not a.attisdropped
       and exists (select from pg_attribute f
                    where f.attrelid = format('fdw_%s.%I', s.service, s.foreign_table)::regclass
                      and f.attname = a.attname and f.attnum > 0 and not f.attisdropped);
    select array_agg(a.attname::text order by k.ord) into keys
      from pg_index i
      cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
     where i.indrelid = format('staging.%I', s.staging_table)::regclass and i.indisprimary;

    has_deleted := 'deleted_at' = any(cols);
    has_updated := 'updated_at' = any(cols);
    non_keys := array(select c from unnest(cols) c where c <> all(keys));
    col_list := dashboard.column_list(cols);
    key_match := dashboard.columns_equal(keys, 'src', 't');
    set_list := (select string_agg(format('%1$I = excluded.%1$I', c), ', ') from unnest(non_keys) c);
    distinct_cond := format('(%s) is distinct from (%s)',
                            dashboard.column_list(non_keys, 't'), dashboard.column_list(non_keys, 'excluded'));
    src := format('select %s from fdw_%s.%I', col_list, s.service, s.foreign_table);
    student_ref := case when s.student_column is null then 'null::uuid' else format('t.%I', s.student_column) end;
    -- The incremental load's rows leave out those staging already holds as they are. The
    -- upsert's WHERE alone would not write them, but ON CONFLICT DO UPDATE locks every
    -- conflicting row first, a WHERE that fails included: each re-read row got its xmax set, its
    -- heap page dirtied and a WAL record, and an incremental load re-reads the previous load's
    -- rows within the overlap. The probe reads the row without locking it; the upsert's WHERE
    -- still guards a row a concurrent load changed in between. Not in the full reload (the
    -- per-student load has its own, below): the probe's plan comes from the table's
    -- statistics, and a table planned as empty (a first load, a rebuilt schema) would be
    -- scanned whole for each row, the pages the statement has filled included; the arbiter
    -- index of ON CONFLICT cannot go wrong so.
    -- Only rows stamped at or before the previous load's start ($2) are probed: those after it
    -- cannot have been loaded by it, and probing them cost a fifth more when every student
    -- changed (97,000 habit logs at 100,000 students: 4.4 s -> 5.4 s).
    held_as_read := format('%s and (%s) is not distinct from (%s)', dashboard.columns_equal(keys, 'o', 'src'),
                           dashboard.column_list(non_keys, 'o'), dashboard.column_list(non_keys, 'src'));
    unchanged := format('exists (select from staging.%I o where %s)', s.staging_table, held_as_read);
    -- The per-student load probes the student's rows as staging holds them, read once through
    -- the student's index (held): a cold start at 100,000 students locked all ~250 of a
    -- student's habit logs through the random-uuid primary key, a leaf page each, 35 ms of
    -- reads from a cold cache. A row a concurrent load changes in between keeps that load's
    -- version, as in the incremental load, until the next cycle re-reads it.
    held_unchanged := format('exists (select from held o where %s)', held_as_read);
    upsert_rows := format('insert into staging.%1$I as t (%2$s) select %2$s from src where %3$s',
                          s.staging_table, col_list,
                          case when has_deleted then 'deleted_at is null' else 'true' end);
    upsert_conflict := format('on conflict (%s) do update set %s where %s returning %s as user_id',
                              dashboard.column_list(keys), set_list, distinct_cond, student_ref);
    upsert := format('up as (%s %s)', upsert_rows, upsert_conflict);
    -- The incremental load upserts in student order. Upstream rows arrive in updated_at order,
    -- scattered over the staging table and its student-keyed indexes, and at 100,000 students
    -- those pages are mostly not in memory: one student after another, each leaf of the
    -- student-keyed indexes is read once and in order (and so is the heap where it was loaded
    -- student by student, as the bench's seed is). Every student's latest habit log changed
    -- (97,000 rows), from a cold cache: 76 s -> 17-21 s. Not the full reload: it re-reads every
    -- row and usually writes none, and the sort cost it 18% (14.8 s -> 17.4 s for the logs of
    -- 10,000 students, nothing changed).
    upsert_incremental := format('up as (%s and not (%s%s) %s %s)', upsert_rows,
                                 case when has_updated then 'updated_at <= $2::timestamptz and ' else '' end,
                                 unchanged,
                                 case when s.student_column is null then ''
                                      else format('order by %I', s.student_column) end,
                                 upsert_conflict);
    -- the students whose rows this load changed (nothing for catalogues: their readers rebuild)
    record_changes := case when s.student_column is null then ''
      else format(', chg as (insert into staging.student_changes (staging_table, user_id) '
                  'select %L, user_id from (select user_id from up union select user_id from del) c)',
                  s.staging_table) end;

    -- one student's rows (the filter on the student column is shipped to the upstream)
    per_student_sql := case when s.student_column is not null then
      format('with src as materialized (%s where %I = $1), '
             'held as materialized (select %s from staging.%I where %I = $1), '
             'up as (%s and not %s %s), del as (delete from staging.%I t '
             'where t.%I = $1 and not exists (select from src where %s %s) returning %s as user_id)%s '
             'select (select count(*) from up) + (select count(*) from del)',
             src, s.student_column, col_list, s.staging_table, s.student_column,
             upsert_rows, held_unchanged, upsert_conflict,
             s.staging_table, s.student_column, key_match,
             case when has_deleted then 'and src.deleted_at is null' else '' end,
             student_ref, record_changes)
    end;

    insert into dashboard.staging_statements values (
      s.staging_table, s.service, s.student_column,
      -- incremental
      format('with src as materialized (%s %s), %s, del as (%s)%s '
             'select (select count(*) from up) + (select count(*) from del), (select max(updated_at) from src)',
             src,
             case when has_updated then 'where updated_at > $1::timestamptz' else '' end,
             upsert_incremental,
             case when has_deleted
                  then format('delete from staging.%I t using src where %s and src.deleted_at is not null returning %s as user_id',
                              s.staging_table, key_match, student_ref)
                  else 'select null::uuid as user_id where false' end,
             record_changes),
      -- full reload: upsert everything, delete what is gone or soft-deleted upstream
      format('with src as materialized (%s), %s, del as (delete from staging.%I t where not exists '
             '(select from src where %s %s) returning %s as user_id)%s '
             'select (select count(*) from up) + (select count(*) from del), %s',
             src, upsert, s.staging_table, key_match,
             case when has_deleted then 'and src.deleted_at is null' else '' end,
             student_ref, record_changes,
             case when has_updated then '(select max(updated_at) from src)' else 'null::timestamptz' end),
      -- the first load into an empty table: one streaming insert (a 14M-row upsert with the
      -- full reload's anti-join delete spills to disk for many minutes)
      format('with ins as (insert into staging.%1$I (%2$s) select %2$s from fdw_%3$s.%4$I %5$s returning %6$s) '
             'select count(*), %7$s from ins',
             s.staging_table, col_list, s.service, s.foreign_table,
             case when has_deleted then 'where deleted_at is null' else '' end,
             case when has_updated then 'updated_at' else '1' end,
             case when has_updated then 'max(updated_at)' else 'null::timestamptz' end),
      -- one student's rows (dashboard.student_load_<table>, below)
      per_student_sql);
    -- dashboard.student_load_<table>(user) runs the per-student statement as static SQL: its
    -- plan is kept for the session, where EXECUTE planned it again on every call (a cold start
    -- plans sixteen of them, about 6 ms at 100,000 students). A change moves the table's change
    -- marker: the next cycle recomputes what reads it.
    if s.student_column is not null then
      execute format(
        'create function dashboard.%I(p_user uuid) returns bigint language plpgsql as %L',
        'student_load_' || s.staging_table,
        format('declare v_rows bigint; begin %s into v_rows; '
               'if v_rows > 0 then insert into staging.change_events (staging_table) values (%L); end if; '
               'return v_rows; end',
               per_student_sql, s.staging_table));
    end if;
    n := n + 1;
  end loop;
  return n;
end $$;

/* dashboard.staging_is_empty(staging_table) -> true when the table has no row. */
create or replace function dashboard.staging_is_empty(p_table text) returns boolean
language plpgsql stable as $$
declare
  v_found boolean;
begin
  execute format('select not exists (select from staging.%I)', p_table) into v_found;
  return v_found;
end $$;

/*
 * dashboard.load_staging_table(staging_table, full, overlap) -> rows changed
 * Loads one staging table from its upstream and records its watermark and change marker.
 *   incremental  rows with updated_at after (the previous load's start - overlap): a row the
 *                previous load could not see was written by an upstream transaction still open
 *                when that load began, so its updated_at is at most `overlap` older than it (the
 *                overlap also absorbs clock skew between the servers). Upserts write only rows
 *                that differ: a re-read costs no write.
 *   full         every row, and staging rows whose key is gone upstream are deleted (hard
 *                deletes); into an empty table, one plain insert.
 * Raises on upstream errors: callers decide.
 */
create or replace function dashboard.load_staging_table(p_table text, p_full boolean default false,
                                                        p_overlap interval default '2 minutes')
returns bigint
language plpgsql
set work_mem = '256MB'   -- a full reload hashes every key of the table
as $$
declare
  st dashboard.staging_statements;
  src staging.sources;
  v_started timestamptz := clock_timestamp();
  v_changed bigint;
  v_max timestamptz;
begin
  select * into strict st from dashboard.staging_statements where staging_table = p_table;
  -- Row lock: two loads of one table never interleave their watermark updates. NO KEY UPDATE,
  -- not UPDATE: per-student change events (which reference this row) must not wait on a cycle.
  select * into strict src from staging.sources where staging_table = p_table for no key update;
  if p_full and src.watermark is null and dashboard.staging_is_empty(p_table) then
    execute st.initial_load into v_changed, v_max;
    -- the bulk insert records no changed students itself: every student in the table changed
    if st.student_column is not null then
      execute format('insert into staging.student_changes (staging_table, user_id) '
                     'select %L, %I from staging.%I group by 2', p_table, st.student_column, p_table);
    end if;
  elsif p_full or src.last_load_started_at is null then
    execute st.full_reload into v_changed, v_max;
  else
    -- the incremental statement's probe of unchanged rows is planned from the statistics: a
    -- table analyzed while empty and filled since (before autovacuum analyzed it again) would
    -- be scanned whole for every row read
    if (select c.reltuples from pg_class c where c.oid = format('staging.%I', p_table)::regclass) = 0
       and not dashboard.staging_is_empty(p_table) then
      execute format('analyze staging.%I', p_table);
    end if;
    execute st.incremental into v_changed, v_max
      using src.last_load_started_at - p_overlap, src.last_load_started_at;
  end if;
  update staging.sources
     set watermark = greatest(watermark, v_max),
         changed_at = case when v_changed > 0 then clock_timestamp() else changed_at end,
         last_load_started_at = v_started,
         last_loaded_at = clock_timestamp(),
         last_rows = v_changed,
         last_error = null
   where staging_table = p_table;
  return v_changed;
end $$;

/*
 * dashboard.load_staging(full) -> total rows changed
 * Loads every staging table (outside a refresh cycle: after an upgrade, or a full reconcile
 * with full => true). An upstream that fails (down, timeout, changed schema) is recorded in
 * staging.sources.last_error and ops.refresh_log and skipped; the others load.
 */
create or replace function dashboard.load_staging(p_full boolean default false) returns bigint
language plpgsql as $$
declare
  s record;
  v_total bigint := 0;
  v_rows bigint;
  v_started timestamptz;
  v_error text;
begin
  for s in select staging_table, service from staging.sources order by service, staging_table loop
    v_started := clock_timestamp();
    begin
      v_rows := dashboard.load_staging_table(s.staging_table, p_full);
      v_total := v_total + v_rows;
      perform dashboard.log_event('staging', s.staging_table, 'ok', v_rows, null, v_started);
    exception when others then
      get stacked diagnostics v_error = message_text;
      update staging.sources set last_error = v_error, last_error_at = clock_timestamp()
       where staging_table = s.staging_table;
      perform dashboard.log_event('staging', s.staging_table, 'failed', null, v_error, v_started);
    end;
  end loop;
  return v_total;
end $$;

/*
 * dashboard.load_student_staging(user_id) -> rows changed
 * Pulls one student's current rows from every upstream into staging (the student filter is
 * pushed down to the remote side: EXPLAIN VERBOSE shows "WHERE ((student_id = $1::uuid))"),
 * through the generated dashboard.student_load_<table> functions. One upstream at a time, all
 * of its tables or none: a failing upstream is skipped with a warning and the student keeps
 * its last good rows. One subtransaction per upstream, not per table: postgres_fdw opens and
 * releases a savepoint on the remote side for each (two round trips).
 */
create or replace function dashboard.load_student_staging(p_user uuid) returns bigint
language plpgsql as $$
declare
  up record;
  v_table text;
  v_total bigint := 0;
  v_service bigint;
  v_rows bigint;
begin
  for up in select service, array_agg(staging_table order by staging_table) as tables
              from dashboard.staging_statements where per_student is not null
             group by service order by service loop
    begin
      v_service := 0;
      foreach v_table in array up.tables loop
        execute format('select dashboard.%I($1)', 'student_load_' || v_table) into v_rows using p_user;
        v_service := v_service + v_rows;
      end loop;
      v_total := v_total + v_service;
    exception when others then
      raise warning 'upstream % unavailable for student %: %', up.service, p_user, sqlerrm;
    end;
  end loop;
  return v_total;
end $$;
