-- Indexes for the row-by-row steps of the cycle (habit histories patched by day, mission rows
-- merged by (student, mission)), and fewer of them on the tables every cycle writes: each index
-- costs a random insert per changed row (at 100,000 students with every student's latest log
-- changed: four indexes of a 13-million-row table, 14.6 s for 97,000 rows).
--
-- Habit logs: the index in v_habit_days order (migration 0009) without its WHERE, deleted_at
-- carried instead, so it also serves a student's rows (the per-student load's delete) and the
-- (student_id) index can go; (habit_id, log_date) is read by nothing. Staging holds no
-- soft-deleted log (loads apply them as deletes), so nothing is lost to index-only scans.
create index habit_logs_by_student_habit_day on staging.coaching_habit_logs
  (student_id, habit_id, log_date, logged_at desc nulls last,
   (case status when 'completed' then 0 when 'skipped' then 1 else 2 end))
  include (status, deleted_at);
drop index staging.habit_logs_by_student_day;
drop index staging.coaching_habit_logs_student_id_idx;
drop index staging.coaching_habit_logs_habit_id_log_date_idx;

-- Submissions: looked up by (student, mission) pair; the pair index serves the student too.
create index missions_submissions_by_student_mission on staging.missions_submissions (student_id, mission_id);
drop index staging.missions_submissions_student_id_idx;
