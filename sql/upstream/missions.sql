-- missions: the mission catalogue and each student's submissions with their reviews.
create table if not exists missions (
  id              uuid primary key,
  code            text not null unique,          -- e.g. SIEM-01, used in deep links
  title           text not null,
  track_code      text not null,
  skill           text not null,                 -- the skill it trains (for gap recommendations)
  difficulty      text not null check (difficulty in ('beginner', 'intermediate', 'advanced')),
  competencies    text[] not null default '{}',
  estimated_hours numeric(5,1) not null,
  updated_at      timestamptz not null default now(),
  deleted_at      timestamptz
);

create table if not exists submissions (
  id              uuid primary key,
  student_id      uuid not null,
  mission_id      uuid not null references missions (id),
  status          text not null check (status in (
                    'not_started', 'in_progress', 'draft', 'submitted', 'in_ai_review',
                    'ai_reviewed', 'in_mentor_review', 'mentor_review', 'approved', 'failed',
                    'rejected', 'revised')),
  ai_score        numeric(5,2),
  ai_feedback     text,
  mentor_score    numeric(5,2),
  mentor_feedback text,
  deadline_at     timestamptz,
  started_at      timestamptz,
  submitted_at    timestamptz,
  reviewed_at     timestamptz,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  deleted_at      timestamptz,
  unique (student_id, mission_id)
);
create index if not exists submissions_updated_at on submissions (updated_at);

create or replace trigger missions_touch before update on missions
  for each row execute function touch_updated_at();
create or replace trigger submissions_touch before update on submissions
  for each row execute function touch_updated_at();
