-- The habit histories (sql/views/habit_history.sql) read each student's logs in the order of
-- dashboard.v_habit_days (DISTINCT ON student, habit, day; the log recorded last wins, ties to
-- the best status). In that order, with the status carried, an index-only scan replaces both the
-- sort of every log (a full derive at 100,000 students) and the heap pages read one per log (the
-- logs of a student are spread over the table: 1,000 students read 90,000 pages, 2.6 s -> 0.5 s).
create index habit_logs_by_student_day on staging.coaching_habit_logs
  (student_id, habit_id, log_date, logged_at desc nulls last,
   (case status when 'completed' then 0 when 'skipped' then 1 else 2 end))
  include (status)
  where deleted_at is null;
