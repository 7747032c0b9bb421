-- subscriptions: a tier mix (free, starter3, professional7, and a few legacy names the dashboard
-- does not know), some expired or cancelled, starter3 windows past 180 days and ending soon.
create or replace function seed_students(p_seed integer, p_first integer, p_last integer, p_now timestamptz)
returns bigint language sql as $$
  with ins as (
    insert into subscriptions (id, student_id, tier, status, period_start, period_end,
                               enhanced_access_start, next_billing_at, payment_state, created_at)
    select seed_uuid(p_seed, 'subscription:' || i), seed_student_id(p_seed, i), x.tier, x.status,
           x.period_start, x.period_end,
           case x.tier when 'starter3' then p_now - make_interval(secs => seed_r(p_seed, 'enh:' || i) * 260 * 86400)
                       when 'professional7' then x.period_start end,
           case when x.tier <> 'free' and x.status in ('active', 'trialing', 'past_due') then x.period_end end,
           case when x.status = 'past_due' then 'failed' when x.tier = 'free' then null else 'paid' end,
           x.period_start
    from generate_series(p_first, p_last) i
    cross join lateral (
      select t.tier, st.status,
             p_now - make_interval(days => 30 + floor(seed_r(p_seed, 'pstart:' || i) * 270)::int) as period_start,
             case when t.tier = 'free' then null
                  when st.status in ('expired', 'cancelled') then p_now - make_interval(secs => seed_r(p_seed, 'pend:' || i) * 20 * 86400)
                  else p_now + make_interval(secs => (1 + seed_r(p_seed, 'pend:' || i) * 29) * 86400) end as period_end
      from (select case when r < 0.45 then 'free' when r < 0.75 then 'starter3'
                        when r < 0.98 then 'professional7' else 'enterprise_legacy' end as tier
            from (select seed_r(p_seed, 'tier:' || i) as r) q) t,
           (select case when r < 0.08 then 'expired' when r < 0.12 then 'cancelled'
                        when r < 0.15 then 'past_due' else 'active' end as status
            from (select seed_r(p_seed, 'substatus:' || i) as r) q) st
    ) x
    where seed_has_data(p_seed, i)
    returning 1)
  select count(*) from ins
$$;
