"""Bearer-token authentication for the student endpoints."""

from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import abort

from och_dashboard import ratelimit, tokens

REALM = "och-dashboard"


def _reject(description: str, error: str | None = "invalid_token"):
    """401 in the one error shape, with an RFC 6750 challenge."""
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="{error}", error_description="{description}"'
    abort(401, message=description, headers={"WWW-Authenticate": challenge})


PROTECTED_PREFIXES = ("/api/v1/student", "/api/v1/bench")
STREAM_PATH = "/api/v1/student/dashboard/stream"


def authenticate_request() -> None:
    """before_request: every student route verifies its token before anything else reads the
    request, so a bad body or query without a valid token is a 401, never a 400 that would
    tell an anonymous caller about the API. The stream may instead carry a single-use ticket
    (browsers' EventSource cannot send headers): its view redeems that."""
    if not request.path.startswith(PROTECTED_PREFIXES):
        return
    if (
        request.path == STREAM_PATH
        and "ticket" in request.args
        and "Authorization" not in request.headers
    ):
        return
    require_student()


def require_student() -> dict:
    """The verified claims of the request's bearer token (kept in g.claims: verified once)."""
    if "claims" in g:
        return g.claims
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        _reject("missing bearer token", error=None)
    if scheme.lower() != "bearer" or not token.strip():
        _reject("malformed authorization header", error="invalid_request")
    try:
        claims = tokens.verify(token.strip(), current_app.config["OCH_SETTINGS"])
    except tokens.InvalidToken as exc:
        _reject(str(exc))
        raise AssertionError("unreachable") from exc
    g.claims = claims
    ratelimit.check(claims["sub"])
    return claims
