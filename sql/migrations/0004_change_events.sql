-- Change events of staging tables written outside a refresh cycle (per-student loads, the
-- missions sync on read). Insert-only, so an on-demand refresh never waits on the cycle, which
-- holds its staging.sources rows locked until it commits. A table's change marker is the
-- greatest of staging.sources.changed_at and its latest event; the cycle prunes old events.
create table staging.change_events (
  staging_table text not null references staging.sources (staging_table),
  changed_at    timestamptz not null default clock_timestamp()
);
create index on staging.change_events (staging_table, changed_at desc);
