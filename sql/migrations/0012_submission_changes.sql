-- Which (student, mission) pairs of the submissions changed, recorded by triggers on
-- staging.missions_submissions (sql/functions/change_capture.sql), as staging.habit_day_changes
-- is for the habit logs. The cycle merges only those pairs' mission rows: a student's latest
-- submission changing is one row, not the student's twenty (at 100,000 students with every
-- student changed, a compare of two million rows). A null pair: too many to list (a bulk
-- load): the next merge takes every row. Insert-only, pruned by dashboard.finish_cycle.
create table staging.submission_changes (
  student_id uuid,
  mission_id uuid,
  changed_at timestamptz not null default clock_timestamp()
);
create index on staging.submission_changes (changed_at);
