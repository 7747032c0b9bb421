-- portfolio: the student's portfolio items, their approval state, and the public profile.
create table if not exists portfolio_items (
  id             uuid primary key,
  student_id     uuid not null,
  title          text not null,
  kind           text not null,
  mission_code   text,
  approval_state text not null check (approval_state in ('draft', 'pending', 'approved', 'rejected')),
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  deleted_at     timestamptz
);
create index if not exists portfolio_items_student on portfolio_items (student_id);
create index if not exists portfolio_items_updated_at on portfolio_items (updated_at);

create table if not exists public_profiles (
  student_id  uuid primary key,
  slug        text not null unique,
  is_public   boolean not null default false,
  headline    text,
  updated_at  timestamptz not null default now()
);
create index if not exists public_profiles_updated_at on public_profiles (updated_at);

create or replace trigger portfolio_items_touch before update on portfolio_items
  for each row execute function touch_updated_at();
create or replace trigger public_profiles_touch before update on public_profiles
  for each row execute function touch_updated_at();
