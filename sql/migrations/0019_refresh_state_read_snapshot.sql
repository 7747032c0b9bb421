-- The snapshot an incremental reader's last successful pass read the change logs under. With it
-- a reader knows exactly which change rows that pass saw: those whose writing transaction the
-- snapshot shows committed (pg_visible_in_snapshot), and those its own transaction wrote
-- (last_success_xid, migration 0018). The 30-second slack (dashboard.change_unseen) re-read,
-- besides the late commits it exists for, every change another transaction had committed
-- within 30 s before that pass: the "everything" row of a bulk staging load followed by a
-- short forced cycle sent the next 1% cycle's merges through a full pass at 10,000 students
-- (9.4 s against 1 s).
alter table ops.refresh_state add column if not exists last_read_snapshot pg_snapshot;
comment on column ops.refresh_state.last_read_snapshot is
  'The snapshot the last success read under: change-log rows whose writer it shows committed were seen.';
