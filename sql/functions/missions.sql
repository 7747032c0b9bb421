-- The mission funnel's vocabulary. One function holds each mapping; views and the API use them.

/*
 * dashboard.mission_stage(upstream_status) -> stage
 *   not_started, in_progress             -> themselves
 *   draft, submitted                     -> pending      (the student's move, or just handed in)
 *   in_ai_review, ai_reviewed,
 *   in_mentor_review, mentor_review      -> in_review
 *   approved                             -> approved
 *   failed, rejected                     -> failed
 *   revised                              -> changes_requested
 * An unknown upstream status maps to in_progress (visible, never silently dropped).
 */
create or replace function dashboard.mission_stage(p_status text) returns text
language sql immutable parallel safe as $$
  select case p_status
    when 'not_started' then 'not_started'
    when 'in_progress' then 'in_progress'
    when 'draft' then 'pending'
    when 'submitted' then 'pending'
    when 'in_ai_review' then 'in_review'
    when 'ai_reviewed' then 'in_review'
    when 'in_mentor_review' then 'in_review'
    when 'mentor_review' then 'in_review'
    when 'approved' then 'approved'
    when 'failed' then 'failed'
    when 'rejected' then 'failed'
    when 'revised' then 'changes_requested'
    else 'in_progress'
  end
$$;
comment on function dashboard.mission_stage(text) is 'Funnel stage of an upstream submission status.';

/* The stages, in funnel order (the API validates ?status= against this list). */
create or replace function dashboard.mission_stages() returns text[]
language sql immutable parallel safe as $$
  select array['not_started', 'in_progress', 'pending', 'in_review', 'approved', 'failed',
               'changes_requested']
$$;

/*
 * dashboard.mission_next_action(upstream_status) -> start | submit | await_review | revise | complete_next
 * What the student should do next with a mission: start it; submit the work (in progress or a
 * draft); wait for the AI or mentor review (submitted, in review); revise it (changes requested,
 * failed or rejected); or, once approved, move on to the next mission.
 */
create or replace function dashboard.mission_next_action(p_status text) returns text
language sql immutable parallel safe as $$
  select case
    when p_status = 'not_started' then 'start'
    when p_status in ('in_progress', 'draft') then 'submit'
    when p_status in ('submitted', 'in_ai_review', 'ai_reviewed', 'in_mentor_review', 'mentor_review')
      then 'await_review'
    when p_status in ('revised', 'failed', 'rejected') then 'revise'
    when p_status = 'approved' then 'complete_next'
    else 'submit'
  end
$$;
comment on function dashboard.mission_next_action(text) is 'The next action a student takes on a mission.';

/* Deep links in the client's scheme: och://missions/SIEM-01, och://modules/<id>, och://habits. */
create or replace function dashboard.deep_link(p_kind text, p_id text default null) returns text
language sql immutable parallel safe as $$
  select 'och://' || p_kind || coalesce('/' || p_id, '')
$$;
