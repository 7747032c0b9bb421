/*
 * dashboard.v_portfolio_health
 *
 * portfolio_health_pct = 100 * approved items / items submitted for approval (pending, approved
 * or rejected). Drafts are work in progress the student has not asked anyone to judge, so they
 * neither help nor hurt; a portfolio with nothing submitted has no health yet (null), which the
 * quick actions turn into "add a portfolio item" rather than showing a misleading 0 %.
 */
create view dashboard.v_portfolio_health as
select s.id                                                        as user_id,
       coalesce(i.items_total, 0)                                  as portfolio_items_total,
       coalesce(i.items_approved, 0)                               as portfolio_items_approved,
       round(100.0 * i.items_approved / nullif(i.items_submitted, 0), 2) as portfolio_health_pct,
       case when pp.is_public then pp.slug end                     as public_profile_slug
  from staging.identity_students s
  left join (select student_id,
                    count(*)::integer                                                as items_total,
                    (count(*) filter (where approval_state = 'approved'))::integer   as items_approved,
                    count(*) filter (where approval_state <> 'draft')                as items_submitted
               from staging.portfolio_portfolio_items
              where deleted_at is null
              group by student_id) i on i.student_id = s.id
  left join staging.portfolio_public_profiles pp on pp.student_id = s.id
 where s.deleted_at is null
   and (i.student_id is not null or pp.student_id is not null);
comment on view dashboard.v_portfolio_health is
  'Portfolio items and health % (approved / submitted, drafts excluded) per student.';
