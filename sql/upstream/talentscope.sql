-- talentscope: readiness for the job market (daily history for trends), skill scores and targets.
create table if not exists readiness_snapshots (
  student_id          uuid not null,
  measured_on         date not null,
  readiness_score     numeric(5,2) not null check (readiness_score between 0 and 100),
  time_to_ready_weeks integer,
  updated_at          timestamptz not null default now(),
  primary key (student_id, measured_on)
);
create index if not exists readiness_snapshots_updated_at on readiness_snapshots (updated_at);

-- A skill gap is target - score where positive.
create table if not exists skill_scores (
  student_id  uuid not null,
  skill       text not null,
  score       numeric(5,2) not null,
  target      numeric(5,2) not null,
  updated_at  timestamptz not null default now(),
  primary key (student_id, skill)
);
create index if not exists skill_scores_updated_at on skill_scores (updated_at);

create or replace trigger readiness_snapshots_touch before update on readiness_snapshots
  for each row execute function touch_updated_at();
create or replace trigger skill_scores_touch before update on skill_scores
  for each row execute function touch_updated_at();
