"""OCH student dashboard backend: PostgreSQL rollups served over REST."""

from och_dashboard.app import create_app

__all__ = ["create_app"]
