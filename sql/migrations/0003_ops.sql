-- Operations: the update queue, the refresh log and the refresh state of each target.
create schema ops;
revoke all on schema ops from public;

-- A real order for priorities: enum values sort in declaration order (urgent first).
create type ops.update_priority as enum ('urgent', 'high', 'normal', 'low');

create table ops.dashboard_update_queue (
  id           bigint generated always as identity primary key,
  user_id      uuid not null,
  priority     ops.update_priority not null default 'normal',
  reason       text not null,
  status       text not null default 'pending' check (status in ('pending', 'done', 'failed')),
  attempts     integer not null default 0,
  last_error   text,
  enqueued_at  timestamptz not null default now(),
  not_before   timestamptz not null default now(),   -- retry backoff
  updated_at   timestamptz not null default now(),
  processed_at timestamptz
);
-- One pending entry per student: a new event raises the pending entry's priority instead.
create unique index dashboard_update_queue_one_pending on ops.dashboard_update_queue (user_id)
  where status = 'pending';
-- The drain order.
create index dashboard_update_queue_drain on ops.dashboard_update_queue (priority, enqueued_at)
  where status = 'pending';

create table ops.refresh_log (
  id            bigint generated always as identity primary key,
  kind          text not null check (kind in ('cycle', 'staging', 'matview', 'cache', 'student', 'queue_batch')),
  target        text,                     -- staging table, matview, student id, ...
  started_at    timestamptz not null,
  finished_at   timestamptz,
  duration_ms   numeric(12,1) generated always as
                  (extract(epoch from finished_at - started_at) * 1000) stored,
  rows_changed  bigint,
  outcome       text not null check (outcome in ('running', 'ok', 'skipped', 'failed')),
  error         text
);
create index on ops.refresh_log (kind, target, started_at desc);

-- Per refresh target (a materialized view, or a serving table merged from them): when it last
-- succeeded and failed, and the change marker of its inputs at its last success. A target whose
-- inputs' marker has not moved since is not recomputed (a quiet cycle costs almost nothing).
create table ops.refresh_state (
  target           text primary key,      -- dashboard.mv_x, serving.student_dashboard_cache, ...
  last_success_at  timestamptz,
  last_failure_at  timestamptz,
  last_error       text,
  inputs_marker    timestamptz,           -- greatest input change seen by the last success
  last_rows        bigint
);
