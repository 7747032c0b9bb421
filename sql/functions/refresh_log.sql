-- Helpers that write ops.refresh_log: every refresh step (cycle, staging table, matview, cache
-- merge, student, queue batch) opens a row when it starts and closes it when it ends.

/* dashboard.log_start(kind, target) -> id of a 'running' row. */
create or replace function dashboard.log_start(p_kind text, p_target text) returns bigint
language sql volatile as $$
  insert into ops.refresh_log (kind, target, started_at, outcome)
  values (p_kind, p_target, clock_timestamp(), 'running')
  returning id
$$;

/* dashboard.log_finish(id, outcome, rows_changed, error): closes the row. */
create or replace function dashboard.log_finish(p_id bigint, p_outcome text, p_rows bigint default null,
                                                p_error text default null) returns void
language sql volatile as $$
  update ops.refresh_log
     set finished_at = clock_timestamp(), outcome = p_outcome, rows_changed = p_rows, error = p_error
   where id = p_id
$$;

/* dashboard.log_event(kind, target, outcome, rows, error, started): one finished row at once
   (for failures recorded after their subtransaction rolled back). */
create or replace function dashboard.log_event(p_kind text, p_target text, p_outcome text,
                                               p_rows bigint, p_error text, p_started timestamptz)
returns void
language sql volatile as $$
  insert into ops.refresh_log (kind, target, started_at, finished_at, outcome, rows_changed, error)
  values (p_kind, p_target, p_started, clock_timestamp(), p_outcome, p_rows, p_error)
$$;
