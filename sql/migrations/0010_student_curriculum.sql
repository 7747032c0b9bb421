-- The curriculum detail (every module of the track, the recommended missions) gets a serving
-- table of its own, one row per student, merged from dashboard.mv_curriculum_progress.
--
-- Why: the module list was most of a cached dashboard row (2.4 kB of a 3.8 kB row, TOASTed),
-- and it travelled through mv_student_dashboard and the cache merge, whose diffs compare and
-- rewrite whole rows. At 100,000 students a concurrent refresh of mv_student_dashboard with
-- nothing changed took 12.2 s with the modules and 3.8 s without; after every student changed,
-- 35 s. Yet only GET /curriculum/progress reads the modules, and they change only with the
-- curriculum. Now they are compared and written only when mv_curriculum_progress changes.
-- The dashboard keeps its curriculum summary (completion, counts, the next module).
create table serving.student_curriculum (
  user_id               uuid primary key,
  track_code            text,
  track_name            text,
  completion_pct        numeric(5,2),
  modules_total         integer not null default 0,
  modules_completed     integer not null default 0,
  modules               jsonb not null default '[]',
  next_module           jsonb,
  recommended_missions  jsonb not null default '[]',
  refreshed_at          timestamptz not null default now()
);

-- What the cache held: carried over, so nothing is missing before the next cycle.
insert into serving.student_curriculum (user_id, track_code, track_name, completion_pct,
  modules_total, modules_completed, modules, next_module, recommended_missions, refreshed_at)
select user_id, track_code, track_name, completion_pct, modules_total, modules_completed,
       modules, next_module, recommended_missions, refreshed_at
  from serving.student_dashboard_cache;

-- CASCADE: the api and dashboard views that read these columns are rebuilt from sql/ right
-- after the migrations, in the same transaction.
alter table serving.student_dashboard_cache
  drop column modules cascade,
  drop column recommended_missions cascade;
