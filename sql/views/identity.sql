/*
 * dashboard.v_identity: one row per (non-deleted) student, with cohort, mentor, consent and
 * the effective timezone every local-date computation uses (UTC when unknown or invalid).
 * active: logged in within the last 30 days (the 5-minute refresh keeps these students' cache).
 */
create view dashboard.v_identity as
select s.id                                         as user_id,
       s.name,
       dashboard.effective_timezone(s.timezone)     as timezone,
       s.track_code,
       s.cohort_id,
       c.name                                       as cohort_name,
       s.mentor_id,
       m.name                                       as mentor_name,
       s.share_with_mentor,
       s.employer_share,
       s.public_portfolio,
       s.push_opt_in,
       s.last_login_at,
       coalesce(s.last_login_at > dashboard.clock() - interval '30 days', false) as active
  from staging.identity_students s
  left join staging.identity_cohorts c on c.id = s.cohort_id and c.deleted_at is null
  left join staging.identity_mentors m on m.id = s.mentor_id and m.deleted_at is null
 where s.deleted_at is null;
comment on view dashboard.v_identity is
  'Students with cohort, mentor, consent, effective timezone and whether they are active (login within 30 days).';
