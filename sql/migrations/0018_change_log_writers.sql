-- Which transaction wrote each change-log row, and which transaction an incremental reader's
-- last successful pass ran in. A reader of the change logs starts 30 seconds before its previous
-- pass (dashboard.changes_from: a per-student load can commit changes stamped before that pass
-- began), so every reader also re-read what its own cycle had loaded just before it: the 1%
-- cycle right after a 100% cycle at 100,000 students patched the 97,298 habit days of the 100%
-- cycle again (48.0 s against 28.5 s). With the writer known, a reader skips what the
-- transaction of its previous pass wrote before that pass read it (dashboard.change_unseen);
-- the slack is kept for the other writers. pg_current_xact_id() is the top-level transaction's
-- id, also inside the cycle's per-step subtransactions.
alter table staging.student_changes
  add column if not exists written_by xid8 not null default pg_current_xact_id();
alter table staging.habit_day_changes
  add column if not exists written_by xid8 not null default pg_current_xact_id();
alter table staging.submission_changes
  add column if not exists written_by xid8 not null default pg_current_xact_id();
alter table staging.module_progress_changes
  add column if not exists written_by xid8 not null default pg_current_xact_id();
alter table ops.refresh_state add column if not exists last_success_xid xid8;
comment on column ops.refresh_state.last_success_xid is
  'The transaction of the last success: change-log readers skip the rows it wrote before it read them.';
