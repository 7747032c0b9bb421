"""One error shape for every error: flask-smorest's {code, status, message, errors}.

Database errors are mapped here, by SQLSTATE class, in one place; their text never reaches the
client (no SQL, no stack traces), only a sentence and, for business errors, safe details.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

log = logging.getLogger(__name__)

# SQLSTATE -> (HTTP status, message)
SQLSTATE_MAP = {
    "42501": (403, "Not allowed."),  # insufficient_privilege
    "28000": (401, "Not authenticated."),  # invalid_authorization_specification
    "22023": (400, "Invalid value."),  # invalid_parameter_value (raised by api functions)
    "22P02": (400, "Invalid value."),  # invalid_text_representation
    "23505": (409, "Conflict."),
    "23514": (400, "Invalid value."),  # check_violation
    "P0001": (400, "Request refused."),  # raise_exception
    "57014": (503, "The database took too long; try again."),  # query_canceled (timeout)
    "40001": (503, "A concurrent change interfered; try again."),  # serialization_failure
}


def http_status_for(exc: DBAPIError) -> tuple[int, str]:
    code = getattr(exc.orig, "pgcode", None)
    if code in SQLSTATE_MAP:
        return SQLSTATE_MAP[code]
    if code is None or code.startswith(("08", "53", "57")):  # connection, resources, shutdown
        return 503, "The database is unavailable; try again."
    return 500, "Internal error."


def register(app: Flask) -> None:
    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        status, message = http_status_for(exc)
        if status >= 500:
            log.error("database error: %s", exc.orig, exc_info=status == 500)
        return _abort_response(status, message)

    @app.errorhandler(MethodNotAllowed)
    def method_not_allowed(exc: MethodNotAllowed):
        # flask-smorest's JSON rendering of HTTP errors drops werkzeug's headers; RFC 9110
        # requires Allow on a 405.
        body, status = _abort_response(405, "Method not allowed.")
        return body, status, {"Allow": ", ".join(sorted(exc.valid_methods or ()))}

    @app.errorhandler(PoolTimeout)
    def pool_exhausted(exc):
        log.error("database pool exhausted: %s", exc)
        return _abort_response(503, "The service is busy; try again.")

    @app.errorhandler(Exception)
    def unexpected(exc):
        if isinstance(exc, HTTPException):
            return exc
        log.exception("unhandled error")
        return _abort_response(500, InternalServerError.description)


def _abort_response(status: int, message: str):
    """The same JSON flask-smorest renders for abort(status, message=...)."""
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    return jsonify(body), status
