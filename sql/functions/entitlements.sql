/*
 * dashboard.entitlements(tier, status, period_end, enhanced_access_start, at)
 *   -> (effective_tier, features, enhanced_access_ends_at, enhanced_access_days_left)
 *
 * What a subscription unlocks at instant `at`, from serving.tiers and serving.tier_features.
 * Fail closed: a subscription that is not active/trialing, past its period_end, missing, or of
 * a tier name this table does not know is 'free'. Features marked enhanced_window_only need
 * `at` inside the tier's enhanced window (starter3: 180 days from enhanced_access_start).
 * Read-time masking calls it with now(), so a tier that expired a second ago is already masked.
 * SECURITY DEFINER with a pinned search_path: it reads only serving.tiers and tier_features.
 * The rules themselves are dashboard.tier_entitlements (below), which the owner's bulk
 * callers use directly.
 * The window is counted in 24-hour days, so it ends at the same instant whatever the session's
 * TimeZone (calendar-day arithmetic would move it by an hour across a DST change).
 */
create or replace function dashboard.tier_entitlements(
  p_tier text, p_status text, p_period_end timestamptz, p_enhanced_start timestamptz,
  p_at timestamptz)
returns table (effective_tier text, features text[], enhanced_access_ends_at timestamptz,
               enhanced_access_days_left integer)
-- Plain SQL, the caller's rights, no SET clause: the planner inlines it into the query, so a
-- caller checking many students (the notification step: 16,000 candidates after every student
-- changed) pays a few microseconds each instead of a function call with a role and settings
-- switch (0.35 ms). Callers need to read serving.tiers and tier_features: the owner's functions.
language sql stable rows 1
as $$
  with sub as (
    select t.tier, t.enhanced_access_days
      from serving.tiers t
     where t.tier = p_tier
       and p_status in ('active', 'trialing')
       and (p_period_end is null or p_period_end > p_at)
  ),
  eff as (
    select coalesce((select tier from sub), 'free') as tier,
           case when (select enhanced_access_days from sub) is not null and p_enhanced_start is not null
                then p_enhanced_start + make_interval(hours => 24 * (select enhanced_access_days from sub))
           end as ends_at
  )
  select eff.tier,
         coalesce((select array_agg(tf.feature order by tf.feature)
                     from serving.tier_features tf
                    where tf.tier = eff.tier
                      and (not tf.enhanced_window_only or p_at < eff.ends_at)), '{}'),
         eff.ends_at,
         case when eff.ends_at is not null
              then greatest(0, ceil(extract(epoch from eff.ends_at - p_at) / 86400))::integer end
    from eff
$$;
comment on function dashboard.tier_entitlements(text, text, timestamptz, timestamptz, timestamptz) is
  'dashboard.entitlements with the caller''s rights, inlined by the planner (for the owner''s bulk checks).';

create or replace function dashboard.entitlements(
  p_tier text, p_status text, p_period_end timestamptz, p_enhanced_start timestamptz,
  p_at timestamptz)
returns table (effective_tier text, features text[], enhanced_access_ends_at timestamptz,
               enhanced_access_days_left integer)
language plpgsql stable rows 1  -- one row; plpgsql: plan cached per session (every API read)
-- Definer's rights: the API's views call it as `authenticated`, which may read no serving table
-- (the tier configuration is not secret, but default deny keeps the grant list short).
security definer set search_path = pg_catalog, pg_temp
as $$
begin
  return query select * from dashboard.tier_entitlements(p_tier, p_status, p_period_end, p_enhanced_start, p_at);
end $$;
comment on function dashboard.entitlements(text, text, timestamptz, timestamptz, timestamptz) is
  'Effective tier and unlocked features of a subscription at an instant (fail closed to free).';
