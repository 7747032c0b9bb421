-- profiler: the student's Future-You persona and how well their identity aligns with it.
create table if not exists future_you_profiles (
  student_id             uuid primary key,
  persona_name           text not null,
  persona_summary        text,
  recommended_track_code text,
  skills_needed          text[] not null default '{}',
  identity_alignment_pct numeric(5,2) check (identity_alignment_pct between 0 and 100),
  readiness_window_weeks integer,
  updated_at             timestamptz not null default now(),
  deleted_at             timestamptz
);
create index if not exists future_you_profiles_updated_at on future_you_profiles (updated_at);
create or replace trigger future_you_profiles_touch before update on future_you_profiles
  for each row execute function touch_updated_at();
