"""JWT verification (the API) and minting (development tokens, `och-dashboard token`).

The algorithms come from configuration, never from the token; exp, sub and aud are required;
sub must be a UUID. Anything else is an InvalidToken with a reason safe to show the client.
"""

from __future__ import annotations

import time
import uuid

import jwt

from och_dashboard.config import Settings

MAX_TOKEN_BYTES = 4096


class InvalidToken(Exception):
    """The bearer token was rejected; the message is safe to return to the client."""


def _verification_key(settings: Settings, algorithm: str) -> str:
    """The key of the token's algorithm family: the public key for asymmetric ones, the secret
    for HMAC (never the public key as an HMAC secret)."""
    if algorithm.startswith(("RS", "ES", "PS", "Ed")):
        if not settings.jwt_public_key:
            raise RuntimeError(
                "an asymmetric JWT algorithm is configured without OCH_JWT_PUBLIC_KEY"
            )
        return settings.jwt_public_key
    if not settings.jwt_secret:
        raise RuntimeError("OCH_JWT_SECRET is not set")
    return settings.jwt_secret


def verify(token: str, settings: Settings) -> dict:
    """The verified claims of `token`, or InvalidToken."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too large")
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
        if not isinstance(algorithm, str) or algorithm not in settings.jwt_algorithms:
            raise InvalidToken("invalid token")
        claims = jwt.decode(
            token,
            _verification_key(settings, algorithm),
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.PyJWTError as exc:  # InvalidKeyError is not an InvalidTokenError
        raise InvalidToken("invalid token") from exc
    try:
        claims["sub"] = str(uuid.UUID(str(claims["sub"])))
    except ValueError as exc:
        raise InvalidToken("invalid token") from exc
    return claims


def mint(settings: Settings, student_id: str, ttl_seconds: int = 3600, **extra) -> str:
    """A development token for `student_id`, signed with the configured secret (HS256)."""
    if not settings.jwt_secret:
        raise RuntimeError("OCH_JWT_SECRET is not set")
    now = int(time.time())
    claims = {
        "sub": str(uuid.UUID(student_id)),
        "aud": settings.jwt_audience,
        "role": "authenticated",
        "iat": now,
        "exp": now + ttl_seconds,
        **extra,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def parse_ttl(text: str) -> int:
    """'90s', '15m', '1h', '7d' or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)
