/* dashboard.v_subscription: the raw subscription per student. Nothing here decides access:
   entitlements are computed when read (dashboard.entitlements with now()). tier_known is false
   for tier names serving.tiers does not know (they are treated as free and logged by refresh). */
create view dashboard.v_subscription as
select s.student_id            as user_id,
       s.tier,
       s.status                as subscription_status,
       s.period_end,
       s.enhanced_access_start,
       s.next_billing_at,
       exists (select from serving.tiers t where t.tier = s.tier) as tier_known
  from staging.subscriptions_subscriptions s;
comment on view dashboard.v_subscription is 'Raw subscription state per student (access is decided at read time).';
