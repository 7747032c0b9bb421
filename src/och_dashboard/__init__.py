"""OCH student dashboard backend: PostgreSQL rollups served over REST."""

__all__ = ["create_app"]


def __getattr__(name: str):
    # Imported on first use, so that the jobs (which need only the configuration) start without
    # loading Flask and the API: about a second of CPU per RQ work horse otherwise.
    if name == "create_app":
        from och_dashboard.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
