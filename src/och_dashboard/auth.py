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


def require_student() -> dict:
    """The verified claims of the request's bearer token (also kept in g.claims)."""
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
