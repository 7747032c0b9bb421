/*
 * dashboard.v_readiness: TalentScope's view of job readiness.
 *   readiness_score     the latest snapshot's score (0-100)
 *   readiness_trend_7d  the last 7 daily scores, oldest first: [{date, score}]
 *   readiness_delta_7d  latest score minus the score 7 days before it (null without history)
 *   time_to_ready_weeks the latest snapshot's estimate
 *   top_skill_gaps      the 3 skills furthest below their target (gap = target - score > 0)
 */
create view dashboard.v_readiness as
-- Set-based: one pass over the snapshots grouped by student (the latest date known to every
-- row by a window over the student), not four lookups per student (9.5 s -> 3 s for 1.4
-- million snapshots of 100,000 students). A filter on one student (the live path) is pushed
-- through the window and the grouping, both keyed by the student.
with snapshots as (
  select s.student_id, s.measured_on, s.readiness_score, s.time_to_ready_weeks,
         max(s.measured_on) over (partition by s.student_id) as latest_on
    from staging.talentscope_readiness_snapshots s
), by_student as (
  select student_id,
         (array_agg(readiness_score) filter (where measured_on = latest_on))[1]       as readiness_score,
         (array_agg(time_to_ready_weeks) filter (where measured_on = latest_on))[1]   as time_to_ready_weeks,
         jsonb_agg(jsonb_build_object('date', measured_on, 'score', readiness_score) order by measured_on)
           filter (where measured_on > latest_on - 7)                                 as trend,
         (array_agg(readiness_score) filter (where measured_on = latest_on - 7))[1]   as score_week_before
    from snapshots
   group by student_id
), gaps as (
  select g.student_id,
         jsonb_agg(jsonb_build_object('skill', g.skill, 'score', g.score, 'target', g.target, 'gap', g.gap)
                   order by g.gap desc, g.skill)                                      as top_skill_gaps
    from (select k.student_id, k.skill, k.score, k.target, k.target - k.score as gap,
                 row_number() over (partition by k.student_id
                                    order by k.target - k.score desc, k.skill)         as n
            from staging.talentscope_skill_scores k
           where k.target > k.score) g
   where g.n <= 3
   group by g.student_id
)
-- every student TalentScope knows: with readiness snapshots, skill scores, or both
select k.student_id                               as user_id,
       b.readiness_score,
       coalesce(b.trend, '[]')                    as readiness_trend_7d,
       b.readiness_score - b.score_week_before    as readiness_delta_7d,
       b.time_to_ready_weeks,
       coalesce(g.top_skill_gaps, '[]')           as top_skill_gaps
  from (select student_id from staging.talentscope_readiness_snapshots
        union
        select student_id from staging.talentscope_skill_scores) k
  left join by_student b on b.student_id = k.student_id
  left join gaps g on g.student_id = k.student_id;
comment on view dashboard.v_readiness is
  'Readiness score, 7-day trend and delta, time to ready and the top 3 skill gaps per student.';
