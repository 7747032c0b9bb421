-- curriculum: tracks, their ordered modules, per-student module progress, recommended missions.
create table if not exists tracks (
  code        text primary key,
  name        text not null,
  updated_at  timestamptz not null default now()
);

create table if not exists modules (
  id          uuid primary key,
  track_code  text not null references tracks (code),
  position    integer not null,
  title       text not null,
  updated_at  timestamptz not null default now(),
  deleted_at  timestamptz,
  unique (track_code, position)
);

create table if not exists module_progress (
  student_id   uuid not null,
  module_id    uuid not null references modules (id),
  progress_pct numeric(5,2) not null default 0 check (progress_pct between 0 and 100),
  status       text not null check (status in ('not_started', 'in_progress', 'completed')),
  completed_at timestamptz,
  updated_at   timestamptz not null default now(),
  primary key (student_id, module_id)
);
create index if not exists module_progress_updated_at on module_progress (updated_at);

create table if not exists recommended_missions (
  student_id   uuid not null,
  mission_code text not null,
  rank         integer not null,
  reason       text,
  updated_at   timestamptz not null default now(),
  deleted_at   timestamptz,
  primary key (student_id, mission_code)
);
create index if not exists recommended_missions_updated_at on recommended_missions (updated_at);

create or replace trigger tracks_touch before update on tracks
  for each row execute function touch_updated_at();
create or replace trigger modules_touch before update on modules
  for each row execute function touch_updated_at();
create or replace trigger module_progress_touch before update on module_progress
  for each row execute function touch_updated_at();
create or replace trigger recommended_missions_touch before update on recommended_missions
  for each row execute function touch_updated_at();
