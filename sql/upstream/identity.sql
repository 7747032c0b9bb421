-- identity / programs: who the student is, where they study, who mentors them, what they consent to.
create table if not exists cohorts (
  id          uuid primary key,
  name        text not null,
  track_code  text not null,
  starts_on   date not null,
  ends_on     date not null,
  updated_at  timestamptz not null default now(),
  deleted_at  timestamptz
);

create table if not exists mentors (
  id          uuid primary key,
  name        text not null,
  email       text not null,
  updated_at  timestamptz not null default now(),
  deleted_at  timestamptz
);

create table if not exists students (
  id                uuid primary key,
  name              text not null,
  email             text not null unique,
  timezone          text,                 -- IANA name; may be missing or invalid upstream
  track_code        text,
  cohort_id         uuid references cohorts (id),
  mentor_id         uuid references mentors (id),
  share_with_mentor boolean not null default true,
  employer_share    boolean not null default false,
  public_portfolio  boolean not null default false,
  last_login_at     timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  deleted_at        timestamptz
);
create index if not exists students_updated_at on students (updated_at);
-- Push notification consent (added later: re-runnable on an existing stand-in). On by default;
-- the student turns it off in the app's settings.
alter table students add column if not exists push_opt_in boolean not null default true;

create or replace trigger cohorts_touch before update on cohorts
  for each row execute function touch_updated_at();
create or replace trigger mentors_touch before update on mentors
  for each row execute function touch_updated_at();
create or replace trigger students_touch before update on students
  for each row execute function touch_updated_at();
