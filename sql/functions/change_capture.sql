/*
 * Row-level change capture of the staging tables whose readers are maintained row by row:
 *   staging.coaching_habit_logs  -> staging.habit_day_changes (habit_id, log_date)
 *                                   read by dashboard.patch_habit_history
 *   staging.missions_submissions -> staging.submission_changes (student_id, mission_id)
 *                                   read by dashboard.merge_missions_changed
 *   staging.curriculum_module_progress -> staging.module_progress_changes (student_id, module_id)
 *                                   read by dashboard.merge_modules_changed
 * Every statement that writes the table (the cycle's loads, a student's refresh, the missions
 * read path, a full reload) records the keys it touched, before and after the write.
 * Statement-level triggers with transition tables: a load of 100,000 rows is one insert, not
 * 100,000 trigger calls. More than a million rows in one statement (the first bulk load) are
 * recorded as one row of nulls: the next reader takes everything.
 */

/* dashboard.capture_key_changes(): the trigger function; TG_ARGV: the capture table (in
   staging), then the key columns, named alike in the source and the capture table. */
create or replace function dashboard.capture_key_changes() returns trigger
language plpgsql as $$
declare
  v_target text := tg_argv[0];
  v_cols text := (select string_agg(format('%I', c), ', ') from unnest(tg_argv[1:]) c);
  v_rows bigint;
begin
  execute format('select count(*) from %s', case tg_op when 'DELETE' then 'old_rows' else 'new_rows' end)
    into v_rows;
  if v_rows > 1000000 then
    execute format('insert into staging.%I (%s) values (%s)', v_target, v_cols,
                   (select string_agg('null', ', ') from unnest(tg_argv[1:])));
  elsif tg_op = 'UPDATE' then
    execute format('insert into staging.%1$I (%2$s) select %2$s from new_rows union select %2$s from old_rows',
                   v_target, v_cols);
  else
    execute format('insert into staging.%1$I (%2$s) select distinct %2$s from %3$s',
                   v_target, v_cols, case tg_op when 'DELETE' then 'old_rows' else 'new_rows' end);
  end if;
  return null;
end $$;

/* One trigger per event and table: PostgreSQL allows transition tables only on single-event
   triggers. */
do $$
declare
  t record;
  e text;
begin
  for t in select * from (values
      ('coaching_habit_logs', 'habit_day_changes', array['habit_id', 'log_date']),
      ('missions_submissions', 'submission_changes', array['student_id', 'mission_id']),
      ('curriculum_module_progress', 'module_progress_changes', array['student_id', 'module_id'])) v(source, target, keys)
  loop
    foreach e in array array['insert', 'update', 'delete'] loop
      execute format('drop trigger if exists %I on staging.%I', 'capture_changes_on_' || e, t.source);
      execute format('create trigger %I after %s on staging.%I referencing %s for each statement '
                     'execute function dashboard.capture_key_changes(%L, %s)',
                     'capture_changes_on_' || e, e, t.source,
                     case e when 'insert' then 'new table as new_rows'
                            when 'update' then 'old table as old_rows new table as new_rows'
                            else 'old table as old_rows' end,
                     t.target, (select string_agg(format('%L', k), ', ') from unnest(t.keys) k));
    end loop;
  end loop;
end $$;

/*
 * dashboard.change_unseen(changed_at, written_by, since, seen, read) -> whether a change-log row
 * (staging.student_changes, habit_day_changes, submission_changes, module_progress_changes) is
 * new to a reader whose previous pass is marked `since` (ops.refresh_state), ran in transaction
 * `seen` (last_success_xid) and read under snapshot `read` (last_read_snapshot). That pass saw a
 * row if its own transaction wrote it before `since` (the cycle's loads come before its readers)
 * or if its snapshot shows the writer committed. Any other row it did not see: a per-student load
 * (a refresh, the missions read path) can commit changes stamped before the pass began. Rows
 * stamped more than 30 seconds before `since` are not looked at (a change is assumed to commit
 * within 30 seconds of its stamp; per-student loads take milliseconds), which keeps the
 * condition an index range on changed_at. Without a snapshot (a pass before migration 0019),
 * every row in those 30 seconds counts. The one place the rule is written. Judged by the stamp
 * alone, the slack re-read what the previous pass had seen: the cycle after a 100% cycle
 * repeated its work, and a bulk load's "everything" row sent the merges of the cycle after a
 * short forced cycle through a full pass again.
 * Inlined into the caller's query, so the condition on changed_at stays an index range. Stable,
 * not immutable: timestamptz - interval is stable, and PostgreSQL does not inline a function
 * declared more constant than its body (called once per change row instead: the 1% cycle's two
 * changed-pair merges took 1.5 s each at 10,000 students against 0.3-0.4 s inlined).
 */
create or replace function dashboard.change_unseen(p_changed_at timestamptz, p_written_by xid8,
                                                   p_since timestamptz, p_seen xid8,
                                                   p_read pg_snapshot) returns boolean
language sql stable parallel safe as $$
  select p_changed_at > p_since - interval '30 seconds'
         and not coalesce((p_written_by = p_seen and p_changed_at <= p_since)
                      or pg_visible_in_snapshot(p_written_by, p_read), false)
$$;
