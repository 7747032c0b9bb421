-- coaching OS: habits and their daily logs (streaks), goals, reflections.
create table if not exists habits (
  id          uuid primary key,
  student_id  uuid not null,
  name        text not null,
  frequency   text not null default 'daily' check (frequency in ('daily', 'weekly')),
  active      boolean not null default true,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  deleted_at  timestamptz
);
create index if not exists habits_student on habits (student_id);
create index if not exists habits_updated_at on habits (updated_at);

-- log_date is the student's local calendar date the log is for; logged_at is when it was
-- recorded. Several logs for one habit and day may exist: the one logged last wins.
create table if not exists habit_logs (
  id          uuid primary key,
  habit_id    uuid not null references habits (id),
  student_id  uuid not null,
  log_date    date not null,
  status      text not null check (status in ('completed', 'skipped', 'missed')),
  logged_at   timestamptz not null,
  updated_at  timestamptz not null default now(),
  deleted_at  timestamptz
);
create index if not exists habit_logs_student on habit_logs (student_id, habit_id, log_date);
create index if not exists habit_logs_updated_at on habit_logs (updated_at);

create table if not exists goals (
  id           uuid primary key,
  student_id   uuid not null,
  title        text not null,
  status       text not null check (status in ('active', 'completed', 'abandoned')),
  due_on       date,
  completed_at timestamptz,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  deleted_at   timestamptz
);
create index if not exists goals_student on goals (student_id);
create index if not exists goals_updated_at on goals (updated_at);

create table if not exists reflections (
  id          uuid primary key,
  student_id  uuid not null,
  body        text not null,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  deleted_at  timestamptz
);
create index if not exists reflections_student on reflections (student_id);
create index if not exists reflections_updated_at on reflections (updated_at);

create or replace trigger habits_touch before update on habits
  for each row execute function touch_updated_at();
create or replace trigger habit_logs_touch before update on habit_logs
  for each row execute function touch_updated_at();
create or replace trigger goals_touch before update on goals
  for each row execute function touch_updated_at();
create or replace trigger reflections_touch before update on reflections
  for each row execute function touch_updated_at();

-- The dashboard is the offline-sync writer of habit logs: POST /api/v1/student/habits/logs:sync
-- inserts the logs a student recorded offline through its foreign table fdw_coaching.habit_logs
-- (INSERT ... ON CONFLICT DO NOTHING; see docs/architecture.md, "Offline habit sync"). So its
-- otherwise read-only login may INSERT here, and only here: never UPDATE or DELETE.
grant insert on habit_logs to och_upstream_reader;
