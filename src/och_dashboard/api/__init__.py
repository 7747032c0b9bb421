"""The REST API: student endpoints (student.py) and health checks (health.py)."""

import json

import flask_smorest
from webargs.flaskparser import FlaskParser


class JsonParser(FlaskParser):
    """webargs' parser, refusing JSON nested deeper than the interpreter's recursion limit as
    invalid JSON (400) instead of letting RecursionError escape (500)."""

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError as exc:
            raise json.JSONDecodeError("nested too deeply", "<body>", 0) from exc


# Read when @blp.arguments decorates a view: set before any blueprint module is imported.
flask_smorest.Blueprint.ARGUMENTS_PARSER = JsonParser()
