/* api.profile: who the student is, their Future-You and their consent settings (no premium
   values here; owner-rights view for the same reason as api.dashboard). */
create view api.profile with (security_barrier) as
select c.user_id, c.name, c.timezone, c.track_code, c.track_name,
       c.cohort_id, c.cohort_name, c.mentor_id, c.mentor_name,
       c.persona_name, c.persona_summary, c.recommended_track_code, c.skills_needed,
       c.identity_alignment_pct, c.readiness_window_weeks,
       c.share_with_mentor, c.employer_share, c.public_portfolio, c.public_profile_slug,
       c.refreshed_at
  from serving.student_dashboard_cache c
 where c.user_id = (select auth.uid());
alter view api.profile owner to dashboard_api;
grant select on api.profile to authenticated;
comment on view api.profile is 'The signed-in student''s profile, Future-You persona and consent settings.';

/* api.curriculum_progress: track, progress-weighted completion %, every module in the track's
   order, the next module and the recommended missions (serving.student_curriculum and the
   student's serving.student_module_progress rows: no premium values either). */
create view api.curriculum_progress with (security_barrier) as
select c.user_id, c.track_code, c.track_name, c.completion_pct, c.modules_completed,
       c.modules_total,
       coalesce((select jsonb_agg(jsonb_build_object(
                          'module_id', m.module_id, 'position', m.position, 'title', m.title,
                          'progress_pct', m.progress_pct, 'status', m.status,
                          'completed_at', m.completed_at,
                          'deep_link', dashboard.deep_link('modules', m.module_id::text))
                        order by m.position, m.module_id)
                   from serving.student_module_progress m
                  where m.user_id = c.user_id), '[]')                  as modules,
       c.next_module, c.recommended_missions, c.refreshed_at
  from serving.student_curriculum c
 where c.user_id = (select auth.uid());
alter view api.curriculum_progress owner to dashboard_api;
grant select on api.curriculum_progress to authenticated;
comment on view api.curriculum_progress is 'The signed-in student''s curriculum progress.';
