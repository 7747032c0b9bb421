/*
 * dashboard.v_portfolio_health
 *
 * portfolio_health_pct = 100 * approved items / items submitted for approval (pending, approved
 * or rejected). Drafts are work in progress the student has not asked anyone to judge, so they
 * neither help nor hurt; a portfolio with nothing submitted has no health yet (null), which the
 * quick actions turn into "add a portfolio item" rather than showing a misleading 0 %.
 */
create view dashboard.v_portfolio_health as
select coalesce(i.student_id, pp.student_id)                                   as user_id,
       count(i.id)::integer                                                    as portfolio_items_total,
       (count(i.id) filter (where i.approval_state = 'approved'))::integer     as portfolio_items_approved,
       round(100.0 * count(i.id) filter (where i.approval_state = 'approved')
             / nullif(count(i.id) filter (where i.approval_state <> 'draft'), 0), 2) as portfolio_health_pct,
       max(pp.slug) filter (where pp.is_public)                                as public_profile_slug
  from (select * from staging.portfolio_portfolio_items where deleted_at is null) i
  full join staging.portfolio_public_profiles pp on pp.student_id = i.student_id
 group by coalesce(i.student_id, pp.student_id);
comment on view dashboard.v_portfolio_health is
  'Portfolio items and health % (approved / submitted, drafts excluded) per student.';
