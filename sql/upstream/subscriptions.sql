-- subscriptions: the student's current subscription (one per student).
create table if not exists subscriptions (
  id                    uuid primary key,
  student_id            uuid not null unique,
  tier                  text not null,          -- free, starter3, professional7 (others possible)
  status                text not null check (status in ('active', 'trialing', 'past_due', 'cancelled', 'expired')),
  period_start          timestamptz not null,
  period_end            timestamptz,
  enhanced_access_start timestamptz,
  next_billing_at       timestamptz,
  payment_state         text,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now()
);
create index if not exists subscriptions_updated_at on subscriptions (updated_at);
create or replace trigger subscriptions_touch before update on subscriptions
  for each row execute function touch_updated_at();
