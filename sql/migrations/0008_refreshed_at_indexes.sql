-- The refresh cycle's notification step looks at the serving rows merged since its previous run
-- (dashboard.generate_notifications with p_since): index when each row was last written.
create index on serving.student_mission_progress (refreshed_at);
create index on serving.student_dashboard_cache (refreshed_at);
