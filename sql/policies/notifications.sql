-- Row-level security on the push outbox (ops.notification_outbox), as on the serving tables:
-- enabled and FORCED (the owner is held to the policies too). Students have no privilege on the
-- table: they read their own rows through api.notifications, owned by dashboard_api, which the
-- policy below holds to user_id = (select auth.uid()); they mark one read through the SECURITY
-- DEFINER api.mark_notification_read. Re-runnable: policies on a migration's table outlive the
-- rebuilt schemas (those naming auth.uid() are dropped with schema auth and made again here).

alter table ops.notification_outbox enable row level security;
alter table ops.notification_outbox force row level security;

drop policy if exists "Students read their own notifications" on ops.notification_outbox;
create policy "Students read their own notifications" on ops.notification_outbox
  for select to authenticated, dashboard_api
  using (user_id = (select auth.uid()));

drop policy if exists "The notification functions maintain every notification" on ops.notification_outbox;
create policy "The notification functions maintain every notification" on ops.notification_outbox
  for all to dashboard_owner
  using (true) with check (true);

drop policy if exists "DBAs read every notification" on ops.notification_outbox;
create policy "DBAs read every notification" on ops.notification_outbox
  for select to dashboard_dba
  using (true);

grant usage on schema ops to dashboard_api;
grant select on ops.notification_outbox to dashboard_api, dashboard_dba;
