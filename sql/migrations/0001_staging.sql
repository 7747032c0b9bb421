-- Staging: local copies of the upstream tables the dashboard reads, loaded from the foreign
-- tables (fdw_<service>) incrementally by watermark (see dashboard.load_staging). Each table has
-- the upstream table's columns (created LIKE it) and its primary key, so loads are idempotent
-- upserts. Names are <service>_<table>.
create schema staging;
revoke all on schema staging from public;

create table staging.identity_students (like fdw_identity.students, primary key (id));
create table staging.identity_cohorts (like fdw_identity.cohorts, primary key (id));
create table staging.identity_mentors (like fdw_identity.mentors, primary key (id));
create table staging.profiler_future_you_profiles (like fdw_profiler.future_you_profiles, primary key (student_id));
create table staging.coaching_habits (like fdw_coaching.habits, primary key (id));
create table staging.coaching_habit_logs (like fdw_coaching.habit_logs, primary key (id));
create table staging.coaching_goals (like fdw_coaching.goals, primary key (id));
create table staging.coaching_reflections (like fdw_coaching.reflections, primary key (id));
create table staging.curriculum_tracks (like fdw_curriculum.tracks, primary key (code));
create table staging.curriculum_modules (like fdw_curriculum.modules, primary key (id));
create table staging.curriculum_module_progress (like fdw_curriculum.module_progress, primary key (student_id, module_id));
create table staging.curriculum_recommended_missions (like fdw_curriculum.recommended_missions, primary key (student_id, mission_code));
create table staging.missions_missions (like fdw_missions.missions, primary key (id));
create table staging.missions_submissions (like fdw_missions.submissions, primary key (id));
create table staging.portfolio_portfolio_items (like fdw_portfolio.portfolio_items, primary key (id));
create table staging.portfolio_public_profiles (like fdw_portfolio.public_profiles, primary key (student_id));
create table staging.talentscope_readiness_snapshots (like fdw_talentscope.readiness_snapshots, primary key (student_id, measured_on));
create table staging.talentscope_skill_scores (like fdw_talentscope.skill_scores, primary key (student_id, skill));
create table staging.subscriptions_subscriptions (like fdw_subscriptions.subscriptions, primary key (id));

-- The per-student reads of the domain views filter on the student: index it.
create index on staging.coaching_habits (student_id);
create index on staging.coaching_habit_logs (student_id);
create index on staging.coaching_habit_logs (habit_id, log_date);
create index on staging.coaching_goals (student_id);
create index on staging.coaching_reflections (student_id);
create index on staging.missions_submissions (student_id);
create index on staging.portfolio_portfolio_items (student_id);
create unique index on staging.subscriptions_subscriptions (student_id);

-- The registry of staging tables: where each is loaded from, its watermark and change marker.
create table staging.sources (
  staging_table    text primary key,        -- e.g. coaching_habit_logs (in schema staging)
  service          text not null,           -- the upstream: its server and fdw_<service> schema
  foreign_table    text not null,           -- the table in fdw_<service>
  student_column   text,                    -- the column naming the student (null: a catalogue)
  watermark        timestamptz,             -- greatest upstream updated_at loaded so far
  changed_at       timestamptz,             -- last time a load changed any row (the change marker)
  last_loaded_at   timestamptz,
  last_rows        bigint,
  last_error       text,
  last_error_at    timestamptz
);

insert into staging.sources (staging_table, service, foreign_table, student_column) values
  ('identity_students', 'identity', 'students', 'id'),
  ('identity_cohorts', 'identity', 'cohorts', null),
  ('identity_mentors', 'identity', 'mentors', null),
  ('profiler_future_you_profiles', 'profiler', 'future_you_profiles', 'student_id'),
  ('coaching_habits', 'coaching', 'habits', 'student_id'),
  ('coaching_habit_logs', 'coaching', 'habit_logs', 'student_id'),
  ('coaching_goals', 'coaching', 'goals', 'student_id'),
  ('coaching_reflections', 'coaching', 'reflections', 'student_id'),
  ('curriculum_tracks', 'curriculum', 'tracks', null),
  ('curriculum_modules', 'curriculum', 'modules', null),
  ('curriculum_module_progress', 'curriculum', 'module_progress', 'student_id'),
  ('curriculum_recommended_missions', 'curriculum', 'recommended_missions', 'student_id'),
  ('missions_missions', 'missions', 'missions', null),
  ('missions_submissions', 'missions', 'submissions', 'student_id'),
  ('portfolio_portfolio_items', 'portfolio', 'portfolio_items', 'student_id'),
  ('portfolio_public_profiles', 'portfolio', 'public_profiles', 'student_id'),
  ('talentscope_readiness_snapshots', 'talentscope', 'readiness_snapshots', 'student_id'),
  ('talentscope_skill_scores', 'talentscope', 'skill_scores', 'student_id'),
  ('subscriptions_subscriptions', 'subscriptions', 'subscriptions', 'student_id');
