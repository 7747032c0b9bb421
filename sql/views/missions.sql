/*
 * dashboard.v_mission_progress: one row per student x mission they have a submission for, with
 * the funnel stage and next action (dashboard.mission_stage / mission_next_action). Deadlines
 * are kept as instants: seconds left and overdue are computed when read (api.missions).
 */
create view dashboard.v_mission_progress as
select s.student_id                         as user_id,
       s.mission_id,
       m.code                               as mission_code,
       m.title,
       m.difficulty,
       m.competencies,
       m.estimated_hours,
       s.status                             as upstream_status,
       dashboard.mission_stage(s.status)    as stage,
       dashboard.mission_next_action(s.status) as next_action,
       s.ai_score,
       s.ai_feedback,
       s.mentor_score,
       s.mentor_feedback,
       s.deadline_at,
       s.started_at,
       s.submitted_at,
       s.reviewed_at,
       s.updated_at                         as source_updated_at
  from staging.missions_submissions s
  join staging.missions_missions m on m.id = s.mission_id and m.deleted_at is null
 where s.deleted_at is null;
comment on view dashboard.v_mission_progress is
  'Each student''s missions with funnel stage, next action, reviews and deadline.';

/* dashboard.v_mission_funnel: per student, how many missions are in each funnel stage. */
create view dashboard.v_mission_funnel as
select user_id,
       (count(*) filter (where stage = 'not_started'))::integer        as missions_not_started,
       (count(*) filter (where stage = 'in_progress'))::integer        as missions_in_progress,
       (count(*) filter (where stage = 'pending'))::integer            as missions_pending,
       (count(*) filter (where stage = 'in_review'))::integer          as missions_in_review,
       (count(*) filter (where stage = 'approved'))::integer           as missions_approved,
       (count(*) filter (where stage = 'failed'))::integer             as missions_failed,
       (count(*) filter (where stage = 'changes_requested'))::integer  as missions_changes_requested
  from dashboard.v_mission_progress
 group by user_id;
comment on view dashboard.v_mission_funnel is 'Mission counts per funnel stage per student.';
