/*
 * api.notifications: the signed-in student's notifications (ops.notification_outbox), newest
 * first by the API. Withdrawn ones (status suppressed: consent withdrawn, expired before they
 * could be pushed, no longer true) are not listed. One waiting for the end of the student's
 * quiet hours is listed already (the inbox is not a push). pushed_at: when every webhook took it.
 * Owned by dashboard_api and held to the outbox's forced policy; filters on auth.uid() itself.
 */
create view api.notifications with (security_barrier) as
select o.id, o.user_id, o.kind, o.subject, o.title, o.body, o.deep_link, o.urgent,
       o.payload as data, o.created_at, o.read_at, o.sent_at as pushed_at
  from ops.notification_outbox o
 where o.user_id = (select auth.uid()) and o.status <> 'suppressed';
alter view api.notifications owner to dashboard_api;
grant select on api.notifications to authenticated;
comment on view api.notifications is 'The signed-in student''s push notifications (inbox), read state included.';

/*
 * api.mark_notification_read(id) -> read_at, or null when the signed-in student has no such
 * notification (someone else's id and a missing id look the same: the API answers 404).
 * Marking twice keeps the first read_at.
 */
create or replace function api.mark_notification_read(p_id uuid) returns timestamptz
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := (select auth.uid());
  v_read timestamptz;
begin
  if v_user is null then
    raise exception 'no authenticated student' using errcode = '28000';
  end if;
  update ops.notification_outbox o
     set read_at = coalesce(o.read_at, now())
   where o.id = p_id and o.user_id = v_user and o.status <> 'suppressed'
  returning o.read_at into v_read;
  return v_read;
end $$;
grant execute on function api.mark_notification_read(uuid) to authenticated;
