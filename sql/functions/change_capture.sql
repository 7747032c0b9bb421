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

/* dashboard.changes_from(since) -> where a reader of the change logs (staging.student_changes,
   habit_day_changes, submission_changes, module_progress_changes) starts when it last read at `since`: 30 seconds
   earlier. A per-student load (a refresh, the missions read path) can commit changes stamped
   before `since` after the reader's previous pass began and missed them; it recomputed its own
   student, so reading them again costs a little and is never wrong. The one place the slack is
   written. */
create or replace function dashboard.changes_from(p_since timestamptz) returns timestamptz
language sql immutable parallel safe as $$
  select p_since - interval '30 seconds'
$$;
