/* dashboard.humanize(interval) -> '2d 5h', '5h 10m', '12m': for reasons shown to students.
   Written to be inlined into its callers (one expression, no FROM, only immutable functions:
   numeric::text, not numeric || text, whose anytextcat is only stable). A SQL function that is
   not inlined is planned again in every query that calls it: 0.1 ms of each /dashboard read,
   where dashboard.quick_actions calls it per overdue or due mission. */
create or replace function dashboard.humanize(p_interval interval) returns text
language sql immutable parallel safe as $$
  select case when extract(epoch from p_interval) >= 86400
              then floor(extract(epoch from p_interval) / 86400)::text || 'd '
                   || floor(extract(epoch from p_interval) % 86400 / 3600)::text || 'h'
              when extract(epoch from p_interval) >= 3600
              then floor(extract(epoch from p_interval) / 3600)::text || 'h '
                   || floor(extract(epoch from p_interval) % 3600 / 60)::text || 'm'
              else greatest(floor(extract(epoch from p_interval) / 60), 0)::text || 'm' end
$$;

/* The facts of a student's cache row the coach reads (passing the whole row would detoast its
   large jsonb columns, the module list, on every read: 0.2 ms a request). */
create type dashboard.coach_facts as (
  current_streak integer, streak_at_risk boolean, next_module jsonb, track_name text,
  top_skill_gaps jsonb, cohort_id uuid, persona_name text, portfolio_health_pct numeric);

/*
 * dashboard.quick_actions(coach_facts, missions, enhanced_access_ends_at, features, at) -> jsonb array
 *
 * The AI coach's next actions, rule-based and explainable: every action says why (reason) and
 * how much it matters (priority, higher first). Urgent actions are the ones to see today.
 *
 *   priority  type                    when
 *   100       mission_overdue         deadline passed and the work is not handed in (urgent)
 *    90       mission_due_soon        deadline within 48 h, not handed in (urgent within 24 h)
 *    85       streak_at_risk          a live daily streak has no log today (urgent)
 *    80       revise_submission       changes requested or failed: revise and resubmit
 *    70       enhanced_access_ending  the enhanced window ends within 14 days
 *    60       read_mentor_feedback    a mentor reviewed a submission in the last 7 days (only
 *                                     for tiers that may read mentor feedback)
 *    50       continue_module         the next module of the track
 *    45       close_skill_gap         a mission not started that trains the top skill gap
 *    40       join_cohort             the student has no cohort
 *    35       complete_profiler       no Future-You persona yet
 *    30       add_portfolio_item      nothing submitted to the portfolio yet
 *
 * Pure: it reads only its arguments (the caller passes the student's cache row and mission
 * rows) and computes deadlines at the instant given: the API calls it with now() on every
 * read, so the actions are accurate to the second.
 */
create or replace function dashboard.quick_actions(
  c dashboard.coach_facts, p_missions serving.student_mission_progress[],
  p_enhanced_ends_at timestamptz,
  p_features text[], p_at timestamptz)
returns jsonb
language plpgsql stable     -- plpgsql: its plan is cached per session (a SQL function that is
                            -- not inlined is planned again on every call: 30 ms here)
-- Definer's rights only so its body can name dashboard.* helpers: the api views call it as
-- `authenticated`, which has no USAGE on schema dashboard. It reads no table.
security definer set search_path = pg_catalog, pg_temp
-- One plan for every student. Left to choose, PL/pgSQL planned the statement again on many
-- calls (41 us of planning per call on average under load, 3 us with this): plans with the
-- arguments folded in look cheaper (the rules that cannot apply drop out), and every plan
-- invalidation starts the five trial custom plans again.
set plan_cache_mode = force_generic_plan
as $$
begin
  return (
  with m as (
    select x.mission_code, x.title, x.stage, x.upstream_status, x.deadline_at, x.competencies,
           x.mentor_score, x.reviewed_at
      from unnest(coalesce(p_missions, '{}')) as x
  ),
  open_work as (
    select * from m where upstream_status in ('not_started', 'in_progress', 'draft', 'revised')
  ),
  actions as (
    select 100 as priority, true as urgent, 'mission_overdue' as type, w.deadline_at as due,
           'Finish ' || w.mission_code || ': ' || w.title as title,
           'The deadline passed ' || dashboard.humanize(p_at - w.deadline_at) || ' ago' as reason,
           dashboard.deep_link('missions', w.mission_code) as deep_link
      from open_work w where w.deadline_at <= p_at
    union all
    select 90, w.deadline_at <= p_at + interval '24 hours', 'mission_due_soon', w.deadline_at,
           'Submit ' || w.mission_code || ': ' || w.title,
           'Due in ' || dashboard.humanize(w.deadline_at - p_at),
           dashboard.deep_link('missions', w.mission_code)
      from open_work w where w.deadline_at > p_at and w.deadline_at <= p_at + interval '48 hours'
    union all
    select 85, true, 'streak_at_risk', null,
           'Log today''s habit to keep your ' || c.current_streak || '-day streak',
           'No habit logged yet today', dashboard.deep_link('habits')
     where c.streak_at_risk and c.current_streak > 0
    union all
    select 80, false, 'revise_submission', x.deadline_at,
           'Revise ' || x.mission_code || ': ' || x.title,
           case x.stage when 'changes_requested' then 'Changes were requested' else 'The review did not pass' end,
           dashboard.deep_link('missions', x.mission_code)
      from m x where x.stage in ('changes_requested', 'failed')
    union all
    select 70, p_enhanced_ends_at <= p_at + interval '3 days', 'enhanced_access_ending', p_enhanced_ends_at,
           'Your enhanced access ends in ' || ceil(extract(epoch from p_enhanced_ends_at - p_at) / 86400) || ' days',
           'Upgrade to keep full AI coaching', dashboard.deep_link('subscription')
     where p_enhanced_ends_at > p_at and p_enhanced_ends_at <= p_at + interval '14 days'
    union all
    select 60, false, 'read_mentor_feedback', null,
           'Read your mentor''s review of ' || x.mission_code,
           'Reviewed ' || to_char(x.reviewed_at, 'YYYY-MM-DD'), dashboard.deep_link('missions', x.mission_code)
      from m x where x.mentor_score is not null and x.reviewed_at > p_at - interval '7 days'
               and 'mentor_feedback' = any(p_features)
    union all
    select 50, false, 'continue_module', null,
           'Continue ' || (c.next_module ->> 'title'),
           'Next module of ' || coalesce(c.track_name, 'your track') || ' (' || (c.next_module ->> 'progress_pct') || ' % done)',
           c.next_module ->> 'deep_link'
     where c.next_module is not null
    union all
    (select 45, false, 'close_skill_gap', null,
            'Start ' || x.mission_code || ': ' || x.title,
            'Trains ' || (c.top_skill_gaps -> 0 ->> 'skill') || ', your largest skill gap',
            dashboard.deep_link('missions', x.mission_code)
       from m x
      where x.upstream_status = 'not_started' and (c.top_skill_gaps -> 0 ->> 'skill') = any(x.competencies)
      order by x.mission_code limit 1)
    union all
    select 40, false, 'join_cohort', null, 'Join a cohort', 'Learning with peers keeps you on track',
           dashboard.deep_link('cohorts')
     where c.cohort_id is null
    union all
    select 35, false, 'complete_profiler', null, 'Meet your Future-You', 'No persona yet: take the profiler',
           dashboard.deep_link('profiler')
     where c.persona_name is null
    union all
    select 30, false, 'add_portfolio_item', null, 'Add your first portfolio item',
           'Nothing submitted for approval yet', dashboard.deep_link('portfolio')
     where c.portfolio_health_pct is null
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'type', type, 'title', title, 'reason', reason, 'priority', priority, 'urgent', urgent,
           'due_at', due, 'deep_link', deep_link)
         order by priority desc, due nulls last, deep_link), '[]')
    from actions);
end $$;
comment on function dashboard.quick_actions(dashboard.coach_facts, serving.student_mission_progress[], timestamptz, text[], timestamptz) is
  'Ranked, explained next actions for a student (rule-based AI coach); urgent ones are due today.';
