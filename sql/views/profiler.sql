/* dashboard.v_future_you: the Future-You persona per student. identity_alignment_pct is the
   profiler's own measure (0-100) of how well the student's current identity matches it. */
create view dashboard.v_future_you as
select p.student_id as user_id,
       p.persona_name,
       p.persona_summary,
       p.recommended_track_code,
       p.skills_needed,
       p.identity_alignment_pct,
       p.readiness_window_weeks
  from staging.profiler_future_you_profiles p
 where p.deleted_at is null;
comment on view dashboard.v_future_you is 'Future-You persona, skills needed and identity alignment % per student.';
