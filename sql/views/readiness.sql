/*
 * dashboard.v_readiness: TalentScope's view of job readiness.
 *   readiness_score     the latest snapshot's score (0-100)
 *   readiness_trend_7d  the last 7 daily scores, oldest first: [{date, score}]
 *   readiness_delta_7d  latest score minus the score 7 days before it (null without history)
 *   time_to_ready_weeks the latest snapshot's estimate
 *   top_skill_gaps      the 3 skills furthest below their target (gap = target - score > 0)
 */
create view dashboard.v_readiness as
with latest as (
  -- every student TalentScope knows: with readiness snapshots, skill scores, or both
  select k.student_id, r.measured_on, r.readiness_score, r.time_to_ready_weeks
    from (select student_id from staging.talentscope_readiness_snapshots
          union
          select student_id from staging.talentscope_skill_scores) k
    left join lateral (
      select s.measured_on, s.readiness_score, s.time_to_ready_weeks
        from staging.talentscope_readiness_snapshots s
       where s.student_id = k.student_id
       order by s.measured_on desc limit 1) r on true
)
select l.student_id                                         as user_id,
       l.readiness_score,
       (select coalesce(jsonb_agg(jsonb_build_object('date', r.measured_on, 'score', r.readiness_score)
                                  order by r.measured_on), '[]')
          from staging.talentscope_readiness_snapshots r
         where r.student_id = l.student_id and r.measured_on > l.measured_on - 7) as readiness_trend_7d,
       l.readiness_score - (select r.readiness_score from staging.talentscope_readiness_snapshots r
                             where r.student_id = l.student_id and r.measured_on = l.measured_on - 7)
                                                            as readiness_delta_7d,
       l.time_to_ready_weeks,
       (select coalesce(jsonb_agg(g order by g.gap desc, g.skill), '[]')
          from (select k.skill, k.score, k.target, k.target - k.score as gap
                  from staging.talentscope_skill_scores k
                 where k.student_id = l.student_id and k.target > k.score
                 order by k.target - k.score desc, k.skill
                 limit 3) g)                                as top_skill_gaps
  from latest l;
comment on view dashboard.v_readiness is
  'Readiness score, 7-day trend and delta, time to ready and the top 3 skill gaps per student.';
