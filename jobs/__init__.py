"""RQ jobs: thin Python over the SQL refresh functions (each is callable from psql too)."""
