/* dashboard.v_recommended_missions: the curriculum's recommended missions, with mission details. */
create view dashboard.v_recommended_missions as
select r.student_id as user_id,
       coalesce(jsonb_agg(jsonb_build_object(
                  'mission_code', r.mission_code, 'title', mm.title, 'rank', r.rank, 'reason', r.reason,
                  'difficulty', mm.difficulty, 'estimated_hours', mm.estimated_hours,
                  'deep_link', dashboard.deep_link('missions', r.mission_code))
                order by r.rank, r.mission_code), '[]') as recommended_missions
  from staging.curriculum_recommended_missions r
  left join staging.missions_missions mm on mm.code = r.mission_code and mm.deleted_at is null
 where r.deleted_at is null
 group by r.student_id;
comment on view dashboard.v_recommended_missions is 'Missions the curriculum recommends to each student, ranked.';

/*
 * dashboard.v_module_progress: one row per student and module of their track, in the order of
 * the track: the student's progress in it (0 and not_started without a progress row) and when
 * it was completed. What serving.student_module_progress holds (GET /curriculum/progress).
 */
create view dashboard.v_module_progress as
select i.user_id,
       m.id                                    as module_id,
       m.track_code,
       m.position,
       m.title,
       coalesce(p.progress_pct, 0)             as progress_pct,
       coalesce(p.status, 'not_started')       as status,
       p.completed_at
  from dashboard.v_identity i
  join staging.curriculum_modules m on m.track_code = i.track_code and m.deleted_at is null
  left join staging.curriculum_module_progress p on p.student_id = i.user_id and p.module_id = m.id;
comment on view dashboard.v_module_progress is
  'Each student''s progress in every module of their track (0 % and not_started where they have no progress row).';

/*
 * dashboard.v_curriculum_summary: the student's track and progress through its modules, from
 * their module rows (dashboard.v_module_progress: one per module of the track, 0 % without a
 * progress row).
 *
 * completion_pct = 100 * sum(progress of each module of the track, 0..1) / modules of the track,
 * written sum(progress_pct) / modules (the same number, one division fewer per row). Every module
 * of the track counts (a module without a progress row counts 0), and a module half done counts
 * half: "completed modules / modules of the track, weighting by module progress".
 * next_module: the first module of the track (by position) that is not completed, with its
 *   progress.
 *
 * next_module without an ordered aggregate: min(array[position, progress]) over the modules not
 * completed is the next module's position and progress in one pass (positions are unique per
 * track upstream), and the module itself is joined by position. An ordered aggregate forces a
 * sort of every (student, module) row; with only unordered aggregates the summary is one hash
 * aggregate: 1.0-1.6 s -> 0.4-0.5 s at 10,000 students. The DISTINCT ON keeps one module per
 * position should a staging load ever hold two for a moment, so a student never gets two rows.
 *
 * Written over the module rows so that dashboard.mv_curriculum_progress can be the same query
 * over the rows the cycle has already merged (serving.student_module_progress, see
 * sql/views/materialized.sql): one aggregate of a table instead of joining four million
 * (student, module) pairs to the progress rows again.
 */
create view dashboard.v_curriculum_summary as
with progress as (
select i.user_id,
       i.track_code,
       t.name                                                          as track_name,
       count(m.module_id)::integer                                     as modules_total,
       (count(*) filter (where m.status = 'completed'))::integer       as modules_completed,
       round(sum(m.progress_pct) / nullif(count(m.module_id), 0), 2)   as completion_pct,
       min(array[m.position, m.progress_pct]) filter (where m.status <> 'completed') as next_at
  from dashboard.v_identity i
  left join staging.curriculum_tracks t on t.code = i.track_code
  left join dashboard.v_module_progress m on m.user_id = i.user_id and m.track_code = i.track_code
 group by i.user_id, i.track_code, t.name
)
select p.user_id, p.track_code, p.track_name, p.modules_total, p.modules_completed, p.completion_pct,
       case when nm.id is not null then
         jsonb_build_object('module_id', nm.id, 'position', nm.position, 'title', nm.title,
                            'progress_pct', p.next_at[2],
                            'deep_link', dashboard.deep_link('modules', nm.id::text))
       end as next_module
  from progress p
  left join (select distinct on (track_code, position) id, track_code, position, title
               from staging.curriculum_modules
              where deleted_at is null
              order by track_code, position, id) nm
         on nm.track_code = p.track_code and nm.position = p.next_at[1];
comment on view dashboard.v_curriculum_summary is
  'Track, completion % (progress-weighted over every module of the track) and the next module per student.';

/* dashboard.v_curriculum_progress: the summary and the missions the curriculum recommends: what
   serving.student_curriculum holds (GET /curriculum/progress; the modules are
   dashboard.v_module_progress). */
create view dashboard.v_curriculum_progress as
select s.*, coalesce(rm.recommended_missions, '[]') as recommended_missions
  from dashboard.v_curriculum_summary s
  left join dashboard.v_recommended_missions rm on rm.user_id = s.user_id;
comment on view dashboard.v_curriculum_progress is
  'Track, completion % (progress-weighted over every module of the track), the next module and the recommended missions per student.';
