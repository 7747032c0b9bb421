"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from och_dashboard.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__)
    app.config["OCH_SETTINGS"] = settings or Settings.from_env()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
