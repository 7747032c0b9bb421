"""The REST API: student endpoints (student.py) and health checks (health.py)."""
