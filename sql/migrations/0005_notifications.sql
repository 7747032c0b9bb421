-- Push notifications: the outbox the refresh fills (dashboard.generate_notifications) and the
-- delivery job drains (dashboard.claim_notifications / mark_notification, jobs/notify.py), and
-- the students' push consent carried from identity to the cache.

-- Consent: identity's students.push_opt_in (default true: push is on unless the student turned
-- it off), copied to staging and, through dashboard.v_identity and mv_student_dashboard, to the
-- cache (the merges are generated from the catalog: matching column names are all it takes).
alter table staging.identity_students add column if not exists push_opt_in boolean not null default true;
-- (a database created after identity had the column got it from the foreign table, without a
-- default: an upstream that does not send it means consent as before)
alter table staging.identity_students alter column push_opt_in set default true;
alter table serving.student_dashboard_cache add column if not exists push_opt_in boolean not null default true;

/*
 * ops.notification_outbox: one row per notification, at most one per
 * (kind, student, subject, window) (idempotency_key, also sent in the webhook body so receivers
 * can drop a redelivery: delivery is at least once).
 *
 *   status           pending     waiting for delivery (next_attempt_at: not before; a claimed
 *                                row is leased by pushing next_attempt_at ahead)
 *                    sent        every configured webhook answered 2xx (sent_at)
 *                    dead        gave up after OCH_PUSH_MAX_ATTEMPTS failed attempts (last_error)
 *                    suppressed  withdrawn before delivery: consent withdrawn, expired, or no
 *                                longer true (last_error says which); never sent, not listed
 *   expires_at       after it the notification is pointless (a deadline passed, the local day
 *                    of a streak nudge ended): a pending row past it is suppressed, not sent
 *   delivered_to     the webhooks (sha256 of the URL, 16 hex) that already accepted it, so a
 *                    retry after a partial failure goes only to the others
 *   read_at          the student marked it read (POST .../notifications/<id>/read)
 */
create table ops.notification_outbox (
  id               uuid primary key default gen_random_uuid(),
  user_id          uuid not null,
  kind             text not null check (kind in ('mission_deadline', 'streak_at_risk',
                     'changes_requested', 'mentor_feedback', 'enhanced_access_ending')),
  subject          text not null,          -- e.g. the mission code, 'habits', 'subscription'
  window_key       text not null,          -- e.g. '24h' / '1h', a local date, a review instant
  idempotency_key  text not null unique,   -- kind:user:subject:window
  title            text not null,
  body             text not null,
  deep_link        text not null,          -- och://missions/SIEM-01 (dashboard.deep_link)
  urgent           boolean not null default false,
  payload          jsonb not null default '{}',
  created_at       timestamptz not null default now(),
  status           text not null default 'pending'
                     check (status in ('pending', 'sent', 'dead', 'suppressed')),
  attempts         integer not null default 0,
  next_attempt_at  timestamptz not null default now(),
  expires_at       timestamptz,
  delivered_to     text[] not null default '{}',
  last_error       text,
  sent_at          timestamptz,
  read_at          timestamptz,
  check (idempotency_key = kind || ':' || user_id::text || ':' || subject || ':' || window_key)
);
-- The delivery job's claim: due pending rows, urgent first.
create index notification_outbox_due on ops.notification_outbox (urgent desc, next_attempt_at)
  where status = 'pending';
-- The student's inbox (api.notifications), newest first.
create index notification_outbox_inbox on ops.notification_outbox (user_id, created_at desc, id desc);

-- The generator's candidate rows: open missions by deadline, reviewed submissions by review.
create index student_mission_progress_open_deadline on serving.student_mission_progress (deadline_at)
  where upstream_status in ('not_started', 'in_progress', 'draft', 'revised');
create index student_mission_progress_reviewed on serving.student_mission_progress (reviewed_at)
  where reviewed_at is not null;

-- The generation step logs to ops.refresh_log under its own kind.
alter table ops.refresh_log drop constraint refresh_log_kind_check;
alter table ops.refresh_log add constraint refresh_log_kind_check
  check (kind in ('cycle', 'staging', 'matview', 'cache', 'student', 'queue_batch', 'notify'));
