-- Which (habit, day) pairs of the habit logs changed, recorded by triggers on
-- staging.coaching_habit_logs (sql/views/habit_history.sql) for every statement that writes the
-- logs: the cycle's loads, a student's refresh, a full reload. The derive step of the cycle then
-- patches only those days of those habits' kept histories instead of deriving the whole student
-- again from every log (at 100,000 students with every student's latest log changed: a pass
-- over 13 million logs). A statement writing more logs than is worth listing (a bulk load)
-- records one row with null habit_id: the next derive is full. Insert-only, pruned by
-- dashboard.finish_cycle with staging.student_changes.
create table staging.habit_day_changes (
  habit_id   uuid,            -- null: "every habit" (too many changes to list)
  log_date   date,
  changed_at timestamptz not null default clock_timestamp()
);
create index on staging.habit_day_changes (changed_at);
