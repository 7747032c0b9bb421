-- dashboard.mv_student_dashboard is now a plain view, dashboard.v_student_dashboard
-- (sql/views/materialized.sql says why): the materialized view's refresh record would otherwise
-- be reported stale for ever by dashboard.refresh_status and GET /health.
delete from ops.refresh_state where target = 'dashboard.mv_student_dashboard';
