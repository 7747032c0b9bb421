-- Which students a staging load changed, per staging table: one row per student and load,
-- written by the generated load statements (dashboard.staging_statements) of every load but the
-- initial bulk one. The incremental steps of the refresh cycle (habit histories, mission rows)
-- recompute only these students instead of everyone. Insert-only like staging.change_events, so
-- a per-student load never waits on a cycle that wrote the same student; finish_cycle prunes it.
create table staging.student_changes (
  staging_table text not null references staging.sources (staging_table),
  user_id       uuid not null,
  changed_at    timestamptz not null default clock_timestamp()
);
create index on staging.student_changes (changed_at, staging_table);

-- Derived tables maintained incrementally by the cycle (dashboard.habit_history) run every
-- cycle but change only sometimes: changed_at is when the target's content last changed, the
-- marker its readers compare with (null: last_success_at, as for materialized views, which are
-- rewritten by every refresh). Their steps are logged as kind 'derive'.
alter table ops.refresh_state add column changed_at timestamptz;
alter table ops.refresh_log drop constraint refresh_log_kind_check;
alter table ops.refresh_log add constraint refresh_log_kind_check
  check (kind in ('cycle', 'staging', 'matview', 'derive', 'cache', 'student', 'queue_batch', 'notify'));
