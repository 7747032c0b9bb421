-- The curriculum's per-module detail becomes rows, as the missions are: one row per student and
-- module of their track, in serving.student_module_progress, instead of a jsonb list in
-- serving.student_curriculum. GET /curriculum/progress builds the list from the student's rows
-- when read (api.curriculum_progress).
--
-- Why: a list changes whole. One module's progress moving rebuilt and rewrote the student's
-- forty module objects, and after every student changed the cycle rebuilt four million of them
-- (an ordered jsonb_agg: 19 s of a 28 s curriculum merge at 100,000 students, the largest part
-- of the 80 s cycle). As rows, a changed (student, module) pair is one row compared and written.
create table serving.student_module_progress (
  user_id       uuid not null,
  module_id     uuid not null,
  track_code    text not null,
  position      integer not null,
  title         text not null,
  progress_pct  numeric(5,2) not null,
  status        text not null,
  completed_at  timestamptz,
  refreshed_at  timestamptz not null default now(),
  primary key (user_id, module_id)
) with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);
comment on table serving.student_module_progress is
  'Each student''s progress in every module of their track (GET /curriculum/progress).';

-- Which (student, module) pairs of the module progress changed, recorded by triggers on
-- staging.curriculum_module_progress (sql/functions/change_capture.sql), as
-- staging.submission_changes is for the submissions. A null pair: too many to list (a bulk
-- load): the next merge takes every row. Insert-only, pruned by dashboard.finish_cycle.
create table staging.module_progress_changes (
  student_id  uuid,
  module_id   uuid,
  changed_at  timestamptz not null default clock_timestamp()
);
create index on staging.module_progress_changes (changed_at);

-- What the curriculum rows held: carried over, so nothing is missing before the next cycle
-- (whose first merge of the new table takes every row: it has no previous success).
insert into serving.student_module_progress (user_id, module_id, track_code, position, title,
  progress_pct, status, completed_at, refreshed_at)
select c.user_id, (m ->> 'module_id')::uuid, c.track_code, (m ->> 'position')::integer, m ->> 'title',
       (m ->> 'progress_pct')::numeric, m ->> 'status', (m ->> 'completed_at')::timestamptz,
       c.refreshed_at
  from serving.student_curriculum c
 cross join lateral jsonb_array_elements(c.modules) m
 where c.track_code is not null;

-- CASCADE: the api view that reads the column is rebuilt from sql/ right after the migrations,
-- in the same transaction.
alter table serving.student_curriculum drop column modules cascade;
