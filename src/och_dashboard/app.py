"""The Flask application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, Request, abort, send_from_directory
from flask_smorest import Api
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import LimitedStream

from och_dashboard import auth, db, errors
from och_dashboard.config import Settings

# swagger-ui-dist, installed from the npm registry by scripts/bootstrap.sh (never a CDN).
SWAGGER_UI_DIR = (
    Path(__file__).resolve().parents[2] / ".local" / "web" / "node_modules" / "swagger-ui-dist"
)
SWAGGER_UI_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"}


class BoundedRequest(Request):
    """werkzeug refuses a Content-Length over max_content_length (413) but only truncates a
    chunked body there (LimitedStream.readall stops at the limit): refuse that one too."""

    def get_data(self, *args, **kwargs):
        data = super().get_data(*args, **kwargs)
        stream = self.stream
        if (
            self.content_length is None
            and isinstance(stream, LimitedStream)
            and stream.is_exhausted
            and self.environ["wsgi.input"].read(1)
        ):
            raise RequestEntityTooLarge()
        return data


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.request_class = BoundedRequest
    app.config.update(
        OCH_SETTINGS=settings,
        API_TITLE="OCH student dashboard",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        MAX_CONTENT_LENGTH=16 * 1024,  # request bodies are tiny; refuse large ones (413)
        API_SPEC_OPTIONS={
            # Every operation needs the bearer token unless it says otherwise (health probes).
            "security": [{"bearerAuth": []}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app.json.sort_keys = False  # keep the schemas' field order
    db.init_app(app, settings)
    app.before_request(auth.authenticate_request)
    api = Api(app)

    from och_dashboard.api import habits, health, notifications, stream, student

    api.register_blueprint(health.blp)
    api.register_blueprint(student.blp)
    api.register_blueprint(habits.blp)
    api.register_blueprint(stream.blp)
    api.register_blueprint(notifications.blp)
    if settings.bench_endpoints:
        from och_dashboard.api import bench

        api.register_blueprint(bench.blp)
    errors.register(app)

    @app.get("/docs/assets/<path:name>")
    def swagger_assets(name: str):
        if name not in SWAGGER_UI_FILES or not SWAGGER_UI_DIR.is_dir():
            abort(404)
        return send_from_directory(SWAGGER_UI_DIR, name, max_age=3600)

    return app
