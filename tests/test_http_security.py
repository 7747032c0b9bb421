"""The security battery over HTTP: tokens, object access, injection, abuse.

Mostly through the Flask test client (the app as gunicorn runs it, minus the socket); path
tricks and raw bytes go through a real WSGI server on loopback, because a test client
normalises what an attacker would send verbatim. The database-level attacks (forged claims as
`authenticated`, the catalog sweep, policies) are in test_sql_security.py and not repeated.

Student A is the attacker (professional7, with missions, a mentor and a cohort); student B is
the victim: another seeded student whose id, name and public profile slug appear nowhere in
A's own responses, so finding any of them in the raw bytes of a response to A is a leak.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import socket
import statistics
import threading
import time
import uuid
from http import HTTPStatus
from urllib.parse import urlsplit

import jwt
import psycopg2
import psycopg2.errors
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.datastructures import Headers
from werkzeug.serving import make_server

from och_dashboard import create_app, tokens

API = "/api/v1/student"
KNOWN_GETS = {"/dashboard", "/profile", "/curriculum/progress", "/missions"}
ERROR_KEYS = {"code", "status", "message", "errors"}
EVENT_STREAM = "text/event-stream"
MARKER = "zqxinj"  # in every injected value: found in SQL text = it reached SQL unbound


# --------------------------------------------------------------------------------------------
# the app, a live server, the two students
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(settings):
    application = create_app(dataclasses.replace(settings, rate_limit=0))
    application.config["TESTING"] = True
    yield application
    application.extensions["och_engine"].dispose()


@pytest.fixture(scope="module")
def live(app):
    """(host, port) of the same app under werkzeug's threaded server, for raw requests."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="security-api", daemon=True)
    thread.start()
    try:
        yield ("127.0.0.1", server.server_port)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def raw_http(address, request: bytes, timeout: float = 10) -> tuple[int, bytes, bytes]:
    """Send bytes as they are; (status, head, body) of the answer (its Content-Length, or to
    EOF: a server that answers before reading the whole request may keep the socket open)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        while (length is None or len(body) < length) and (chunk := sock.recv(65536)):
            body += chunk
    return int(head.split(b" ", 2)[1]), head, body


@dataclasses.dataclass(frozen=True)
class Student:
    id: str
    name: str
    slug: str | None

    def needles(self) -> list[bytes]:
        """What of this student must never appear in a response to someone else: the id in
        its spellings, the name raw and JSON-escaped, the public profile slug."""
        found = [
            self.id.encode(),
            self.id.upper().encode(),
            self.id.replace("-", "").encode(),
            self.name.encode(),
            json.dumps(self.name)[1:-1].encode(),
        ]
        if self.slug:
            found.append(json.dumps(self.slug).encode())  # quoted: a slug is short
        return found


@pytest.fixture(scope="module")
def population(sandbox):
    """Every cached student with name, slug and the tier in force now."""
    with contextlib.closing(sandbox.connect()) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select c.user_id::text, c.name, c.public_profile_slug, e.effective_tier,
                   c.mentor_id is not null and c.cohort_id is not null,
                   (select count(*) from serving.student_mission_progress m where m.user_id = c.user_id)
              from serving.student_dashboard_cache c
              cross join lateral dashboard.entitlements(c.tier, c.subscription_status,
                                                        c.period_end, c.enhanced_access_start, now()) e
             where c.name is not null
             order by c.user_id desc
            """
        )
        return cur.fetchall()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def student_gets(app):
    """Every student GET of the live document without path parameters (event streams aside):
    the object-access and injection batteries cover endpoints added later by themselves."""
    doc = app.test_client().get("/openapi.json").get_json()
    found = {}
    for path, item in doc["paths"].items():
        op = item.get("get")
        if not op or not path.startswith(API) or "{" in path:
            continue
        if any(EVENT_STREAM in r.get("content", {}) for r in op["responses"].values()):
            continue
        params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        found[path[len(API) :]] = params
    assert set(found) >= KNOWN_GETS, found
    return found


@pytest.fixture(scope="module")
def json_posts(app):
    """Every student POST of the live document with a JSON body: path -> body schema."""
    doc = app.test_client().get("/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    found = {}
    for path, item in doc["paths"].items():
        op = item.get("post")
        if not op or not path.startswith(API) or "{" in path:
            continue
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            ref = body["schema"].get("$ref", "")
            found[path[len(API) :]] = schemas.get(ref.rsplit("/", 1)[-1], body["schema"])
    assert "/dashboard/actions" in found, found
    return found


@pytest.fixture(scope="module")
def pair(app, settings, population, student_gets):
    """(A, B): A professional7 with missions, mentor and cohort; B any other student none of
    whose needles appears in A's own responses (so a hit can only be a leak)."""
    client = app.test_client()
    a_row = next(r for r in population if r[3] == "professional7" and r[4] and r[5] > 0)
    a = Student(a_row[0], a_row[1], a_row[2])
    own = b"".join(
        client.get(f"{API}{path}", headers=bearer(tokens.mint(settings, a.id))).data
        for path in student_gets
    )
    for row in population:
        b = Student(row[0], row[1], row[2])
        if b.id != a.id and not any(n in own for n in b.needles()):
            return a, b
    raise AssertionError("no student B distinguishable from A's responses")


def assert_no_leak(data: bytes, victim: Student, context) -> None:
    for needle in victim.needles():
        assert needle not in data, f"{victim} leaked ({needle!r}) by {context}: {data[:300]!r}"


def assert_error(response, status: int | None = None) -> dict:
    """The one error shape: JSON {code, status[, message][, errors]}."""
    if status is not None:
        assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.status_code >= 400
    assert response.mimetype == "application/json", (response.mimetype, response.data[:200])
    body = response.get_json()
    assert set(body) <= ERROR_KEYS and {"code", "status"} <= set(body), body
    assert body["code"] == response.status_code
    assert body["status"] == HTTPStatus(response.status_code).phrase
    return body


def assert_401(response) -> dict:
    body = assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="och-dashboard"')
    return body


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict, claims: dict, key: bytes | None = None) -> str:
    """A JWS assembled by hand (PyJWT refuses to sign HS256 with a PEM key, as an attacker
    would not): header.claims.HMAC-SHA256(key) or an empty signature when key is None."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def claims_for(settings, student: str, **overrides) -> dict:
    now = int(time.time())
    return {
        "sub": student,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
        **overrides,
    }


def hs256(settings, claims: dict, key: str | None = None) -> str:
    return jwt.encode(claims, key or settings.jwt_secret, algorithm="HS256")


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["absent", "empty", "garbage", "hmac-of-secret"])
def test_alg_none_in_any_case_is_401(client, settings, pair, alg, signature):
    a, _ = pair
    header, claims = {"alg": alg, "typ": "JWT"}, claims_for(settings, a.id)
    unsigned = hand_made(header, claims)  # "h.c."
    token = {
        "absent": unsigned[:-1],  # "h.c"
        "empty": unsigned,
        "garbage": unsigned + "c2lnbmF0dXJl",
        "hmac-of-secret": hand_made(header, claims, settings.jwt_secret.encode()),
    }[signature]
    for path in KNOWN_GETS:
        assert_401(client.get(f"{API}{path}", headers=bearer(token)))


@pytest.fixture(scope="module")
def rsa_keys():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return private, pem, der, pkcs1


def rs_client(settings, public_pem: bytes, algorithms=("RS256",)):
    configured = dataclasses.replace(
        settings, jwt_algorithms=algorithms, jwt_public_key=public_pem.decode(), rate_limit=0
    )
    application = create_app(configured)
    return application, application.test_client()


def test_rs256_configured_accepts_a_proper_rs256_token_and_refuses_hs_rs_confusion(
    settings, pair, rsa_keys
):
    a, b = pair
    private, pem, der, pkcs1 = rsa_keys
    application, client = rs_client(settings, pem)
    try:
        claims = claims_for(settings, a.id)
        good = client.get(
            f"{API}/profile", headers=bearer(jwt.encode(claims, private, algorithm="RS256"))
        )
        assert good.status_code == 200 and good.get_json()["student"]["id"] == a.id
        # HS256 with the public key as the HMAC secret, in every spelling of that key
        for key in (
            pem,
            pem.strip(),
            pem.replace(b"\n", b"\r\n"),
            der,
            pkcs1,
            b"".join(pem.splitlines()[1:-1]),
        ):
            for alg in ("HS256", "hs256", "HS384", "HS512"):
                forged = hand_made({"alg": alg, "typ": "JWT"}, claims_for(settings, b.id), key)
                response = client.get(f"{API}/profile", headers=bearer(forged))
                assert_401(response)
                assert_no_leak(response.data, b, f"HS/RS confusion {alg}")
        # the HS secret the app also knows is not a way in either
        assert_401(client.get(f"{API}/profile", headers=bearer(hs256(settings, claims))))
        # an attacker's own RSA / EC keys, with or without the key embedded in the header
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        embedded = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(other.public_key()))
        ec_key = ec.generate_private_key(ec.SECP256R1())
        for token in (
            jwt.encode(claims_for(settings, b.id), other, algorithm="RS256"),
            jwt.encode(
                claims_for(settings, b.id), other, algorithm="RS256", headers={"jwk": embedded}
            ),
            jwt.encode(claims_for(settings, b.id), private, algorithm="RS512"),
            jwt.encode(claims_for(settings, b.id), private, algorithm="PS256"),
            jwt.encode(claims_for(settings, b.id), ec_key, algorithm="ES256"),
            hand_made({"alg": "none"}, claims_for(settings, b.id)),
        ):
            response = client.get(f"{API}/profile", headers=bearer(token))
            assert_401(response)
            assert_no_leak(response.data, b, "a foreign key")
    finally:
        application.extensions["och_engine"].dispose()


# Regression test of a bug found by this battery (fixed): with both an asymmetric and an HMAC algorithm allowed (OCH_JWT_ALGORITHMS=RS256,HS256), an...
def test_mixed_algorithm_allow_list_refuses_hs_rs_confusion_with_401(settings, pair, rsa_keys):
    a, _ = pair
    _, pem, _, _ = rsa_keys
    application, client = rs_client(settings, pem, algorithms=("RS256", "HS256"))
    try:
        forged = hand_made({"alg": "HS256", "typ": "JWT"}, claims_for(settings, a.id), pem)
        assert_401(client.get(f"{API}/profile", headers=bearer(forged)))
    finally:
        application.extensions["och_engine"].dispose()


def _bad_token_cases():
    """name -> (settings, student id) -> Authorization header value."""
    later = 30 + 600  # beyond any sane leeway (the default is 30 s)

    def signed(**over):
        return lambda s, u: "Bearer " + hs256(s, claims_for(s, u, **over))

    def without(*names):
        return lambda s, u: (
            "Bearer " + hs256(s, {k: v for k, v in claims_for(s, u).items() if k not in names})
        )

    return {
        "expired": signed(exp=int(time.time()) - 3600),
        "expired-beyond-leeway": lambda s, u: (
            "Bearer " + hs256(s, claims_for(s, u, exp=int(time.time()) - s.jwt_leeway - 5))
        ),
        "nbf-future": lambda s, u: (
            "Bearer " + hs256(s, claims_for(s, u, nbf=int(time.time()) + s.jwt_leeway + later))
        ),
        "iat-future": lambda s, u: (
            "Bearer " + hs256(s, claims_for(s, u, iat=int(time.time()) + s.jwt_leeway + later))
        ),
        "aud-other": signed(aud="another-service"),
        "aud-list-without-ours": signed(aud=["another-service", "och"]),
        "aud-empty": signed(aud=""),
        "aud-case": lambda s, u: "Bearer " + hs256(s, claims_for(s, u, aud=s.jwt_audience.upper())),
        "aud-space": lambda s, u: "Bearer " + hs256(s, claims_for(s, u, aud=s.jwt_audience + " ")),
        "no-aud": without("aud"),
        "no-exp": without("exp"),
        "no-sub": without("sub"),
        "sub-null": signed(sub=None),
        "sub-empty": signed(sub=""),
        "sub-int": signed(sub=12345),
        "sub-list": lambda s, u: "Bearer " + hs256(s, claims_for(s, u, sub=[u])),
        "sub-object": lambda s, u: "Bearer " + hs256(s, claims_for(s, u, sub={"id": u})),
        "sub-not-uuid": signed(sub="admin"),
        "sub-sql": lambda s, u: "Bearer " + hs256(s, claims_for(s, u, sub=f"{u}' or '1'='1")),
        "sub-uuid-plus": lambda s, u: "Bearer " + hs256(s, claims_for(s, u, sub=u + "0")),
        "sub-two-uuids": lambda s, u: "Bearer " + hs256(s, claims_for(s, u, sub=f"{u},{u}")),
        "exp-string": signed(exp="tomorrow"),
        "wrong-secret": lambda s, u: (
            "Bearer " + hs256(s, claims_for(s, u), key=s.jwt_secret[::-1] + "x")
        ),
        "hs512-same-secret": lambda s, u: (
            "Bearer " + jwt.encode(claims_for(s, u), s.jwt_secret, algorithm="HS512")
        ),
        "signature-stripped": lambda s, u: (
            "Bearer " + hs256(s, claims_for(s, u)).rsplit(".", 1)[0] + "."
        ),
        "payload-swapped": lambda s, u: (
            "Bearer " + _swap_payload(hs256(s, claims_for(s, u)), claims_for(s, str(uuid.uuid4())))
        ),
        "oversized-but-signed": lambda s, u: "Bearer " + hs256(s, claims_for(s, u, pad="p" * 5000)),
        "oversized-garbage": lambda s, u: "Bearer " + "a" * 100_000,
        "garbage": lambda s, u: "Bearer not-a-jwt",
        "dots": lambda s, u: "Bearer ...",
        "two-parts": lambda s, u: "Bearer a.b",
        "four-parts": lambda s, u: "Bearer " + hs256(s, claims_for(s, u)) + ".x",
        "latin1": lambda s, u: "Bearer \xe9\xe8\xff",
        "scheme-only": lambda s, u: "Bearer",
        "scheme-spaces": lambda s, u: "Bearer    ",
        "tab-separated": lambda s, u: "Bearer\t" + hs256(s, claims_for(s, u)),
        "token-scheme": lambda s, u: "Token " + hs256(s, claims_for(s, u)),
        "basic": lambda s, u: "Basic dXNlcjpwYXNz",
        "two-tokens-comma": lambda s, u: (
            "Bearer " + hs256(s, claims_for(s, u)) + ", Bearer " + hs256(s, claims_for(s, u))
        ),
        "trailing-junk": lambda s, u: "Bearer " + hs256(s, claims_for(s, u)) + "x",
        "nested-header": lambda s, u: "Bearer " + b64url(b"[" * 2900) + ".e30.c2ln",
        "header-not-object": lambda s, u: "Bearer " + b64url(b"[]") + ".e30.c2ln",
        "alg-list": lambda s, u: "Bearer " + hand_made({"alg": ["HS256"]}, claims_for(s, u), b"k"),
        "crit-unknown": lambda s, u: (
            "Bearer "
            + hand_made(
                {"alg": "HS256", "crit": ["x-och"], "x-och": 1},
                claims_for(s, u),
                s.jwt_secret.encode(),
            )
        ),
    }


def _swap_payload(token: str, claims: dict) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


BAD_TOKENS = _bad_token_cases()


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_every_bad_token_is_a_401_in_the_one_error_shape(client, settings, pair, case):
    a, b = pair
    header = BAD_TOKENS[case](settings, b.id)
    for path in sorted(KNOWN_GETS):
        response = client.get(f"{API}{path}", headers={"Authorization": header})
        assert_401(response)
        assert_no_leak(response.data, b, case)
    # and POST: the body is valid, only the token is wrong
    response = client.post(
        f"{API}/dashboard/actions",
        headers={"Authorization": header},
        json={"action": "habit_logged"},
    )
    assert_401(response)


@pytest.mark.parametrize(
    "spelling",
    [
        lambda t: f"Bearer {t}",
        lambda t: f"bearer {t}",
        lambda t: f"BEARER {t}",
        lambda t: f"Bearer   {t}",
        lambda t: f"Bearer {t}  ",
    ],
    ids=["canonical", "lower-scheme", "upper-scheme", "extra-spaces", "trailing-spaces"],
)
def test_the_scheme_is_case_insensitive_and_whitespace_tolerant(client, settings, pair, spelling):
    """RFC 7235: the scheme is case-insensitive; the control for the refusals above."""
    a, b = pair
    response = client.get(
        f"{API}/profile", headers={"Authorization": spelling(tokens.mint(settings, a.id))}
    )
    assert response.status_code == 200
    assert response.get_json()["student"]["id"] == a.id
    assert_no_leak(response.data, b, "a valid token")


def test_leeway_boundaries_hold(client, settings, pair):
    """Within the configured leeway a token is accepted (clock skew), beyond it refused."""
    a, _ = pair
    now = int(time.time())
    inside = {"exp": now - settings.jwt_leeway + 10, "nbf": now + settings.jwt_leeway - 10}
    assert (
        client.get(
            f"{API}/profile", headers=bearer(hs256(settings, claims_for(settings, a.id, **inside)))
        ).status_code
        == 200
    )
    for over in ({"exp": now - settings.jwt_leeway - 10}, {"nbf": now + settings.jwt_leeway + 10}):
        assert_401(
            client.get(
                f"{API}/profile",
                headers=bearer(hs256(settings, claims_for(settings, a.id, **over))),
            )
        )


@pytest.mark.parametrize("spelling", ["braces", "no-hyphens", "urn", "upper"])
def test_sub_spellings_of_one_uuid_are_one_identity(client, settings, pair, spelling):
    """A signed sub is canonicalised: other spellings of A's UUID are A, never anyone else."""
    a, b = pair
    sub = {
        "braces": "{" + a.id + "}",
        "no-hyphens": a.id.replace("-", ""),
        "urn": "urn:uuid:" + a.id,
        "upper": a.id.upper(),
    }[spelling]
    response = client.get(
        f"{API}/profile", headers=bearer(hs256(settings, claims_for(settings, sub)))
    )
    assert response.status_code == 200 and response.get_json()["student"]["id"] == a.id
    assert_no_leak(response.data, b, spelling)


def test_a_valid_token_for_a_student_who_does_not_exist_is_a_clean_404(client, settings, pair):
    _, b = pair
    for sub in (str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000"):
        headers = bearer(tokens.mint(settings, sub))
        for path in sorted(KNOWN_GETS):
            response = client.get(f"{API}{path}", headers=headers)
            body = assert_error(response, 404)
            assert set(body) <= {"code", "status", "message"}
            assert sub not in response.get_data(as_text=True)
            assert_no_leak(response.data, b, "an unknown student")


@pytest.mark.parametrize(
    "extra",
    [
        {"tier": "professional7"},
        {"effective_tier": "professional7", "entitlements": ["mentor_feedback", "ai_full"]},
        {"role": "service_role"},
        {"role": "dashboard_owner"},
        {"role": "postgres", "is_admin": True, "admin": True},
        {
            "app_metadata": {"tier": "professional7", "role": "admin"},
            "user_metadata": {"tier": "professional7"},
        },
        {"https://och.example/claims": {"tier": "professional7", "roles": ["admin"]}},
        {"scope": "admin dashboard:all", "permissions": ["*"]},
        {"subscription": {"tier": "professional7", "status": "active"}},
    ],
    ids=lambda e: ",".join(sorted(e)),
)
def test_client_added_tier_or_role_claims_change_nothing(client, settings, population, pair, extra):
    """The tier comes from the database; the database role from the code, never a claim."""
    _, b = pair
    free = next(r[0] for r in population if r[3] == "free" and r[0] != b.id)
    plain, forged = (
        bearer(tokens.mint(settings, free)),
        bearer(tokens.mint(settings, free, **extra)),
    )
    for path in ("/dashboard", "/profile", "/curriculum/progress"):
        expected, got = (
            client.get(f"{API}{path}", headers=plain),
            client.get(f"{API}{path}", headers=forged),
        )
        assert got.status_code == expected.status_code == 200
        assert got.get_json() == expected.get_json(), path
        assert_no_leak(got.data, b, extra)
    dashboard = client.get(f"{API}/dashboard", headers=forged).get_json()
    assert dashboard["subscription"]["effective_tier"] == "free"
    assert dashboard["action_plan"] is None and dashboard["subscription"]["next_billing_at"] is None
    missions = client.get(f"{API}/missions?page_size=100", headers=forged).get_json()
    for item in missions["items"]:
        assert (item["ai_feedback"], item["mentor_score"], item["mentor_feedback"]) == (
            None,
            None,
            None,
        )


def test_duplicated_authorization_headers_never_yield_another_students_data(client, settings, pair):
    """Two Authorization headers: refused (or A's own data), never B's, whichever comes first
    and whether the other one is forged or genuine."""
    a, b = pair
    a_valid = "Bearer " + tokens.mint(settings, a.id)
    b_forged = "Bearer " + hs256(settings, claims_for(settings, b.id), key="not-the-secret-" * 3)
    b_none = "Bearer " + hand_made({"alg": "none"}, claims_for(settings, b.id))
    for first, second in (
        (a_valid, b_forged),
        (b_forged, a_valid),
        (a_valid, b_none),
        (b_none, a_valid),
        (a_valid, a_valid),
    ):
        for path in sorted(KNOWN_GETS):
            response = client.get(
                f"{API}{path}",
                headers=Headers([("Authorization", first), ("Authorization", second)]),
            )
            assert response.status_code in (200, 401), response.status_code
            if response.status_code == 401:
                assert_401(response)
            assert_no_leak(response.data, b, "a duplicated Authorization header")


def test_duplicated_authorization_headers_over_the_wire(live, settings, pair):
    a, b = pair
    a_valid = tokens.mint(settings, a.id).encode()
    b_forged = hs256(settings, claims_for(settings, b.id), key="not-the-secret-" * 3).encode()
    for first, second in ((a_valid, b_forged), (b_forged, a_valid)):
        status, _, body = raw_http(
            live,
            b"GET "
            + API.encode()
            + b"/profile HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Authorization: Bearer "
            + first
            + b"\r\nAuthorization: Bearer "
            + second
            + b"\r\n\r\n",
        )
        assert status in (200, 401)
        assert_no_leak(body, b, "duplicated Authorization over the wire")


# --------------------------------------------------------------------------------------------
# object access: A's token, B's identifiers anywhere else
# --------------------------------------------------------------------------------------------


def _query_tricks(b: Student) -> list[str]:
    return [
        f"user_id={b.id}",
        f"sub={b.id}",
        f"id={b.id}",
        f"student={b.id}",
        f"student_id={b.id}",
        f"uid={b.id}&userId={b.id}&user={b.id}",
        f"user_id[]={b.id}&user_id={b.id}",
        f"filter=user_id%3D{b.id}",
        f"claims=%7B%22sub%22%3A%22{b.id}%22%7D",
        f"token={b.id}&access_token={b.id}",
    ]


def _header_tricks(settings, b: Student) -> list[dict]:
    forged = "Bearer " + hs256(settings, claims_for(settings, b.id), key="not-the-secret-" * 3)
    return [
        {"X-User-Id": b.id},
        {"X-Forwarded-User": b.id},
        {"X-Remote-User": b.id, "Remote-User": b.id},
        {"X-Auth-Request-User": b.id, "X-Auth-Request-Email": b.name},
        {"X-Original-User": b.id, "X-Impersonate": b.id, "X-Act-As": b.id},
        {"X-Student-Id": b.id, "X-Sub": b.id, "X-JWT-Claims": json.dumps({"sub": b.id})},
        {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Forwarded": "for=127.0.0.1"},
        {"X-Original-URL": f"{API}/profile?user_id={b.id}", "X-Rewrite-URL": f"{API}/profile"},
        {"X-HTTP-Method-Override": "DELETE", "X-Method-Override": "PUT"},
        {"Cookie": f"sub={b.id}; session={forged}; access_token={forged}"},
        {"Proxy-Authorization": forged, "X-Authorization": forged, "X-Access-Token": forged},
    ]


def test_query_strings_never_select_another_student(client, settings, pair, student_gets):
    a, b = pair
    headers = bearer(tokens.mint(settings, a.id))
    for path in sorted(student_gets):
        for query in _query_tricks(b):
            response = client.get(f"{API}{path}?{query}", headers=headers)
            assert response.status_code < 500, (path, query, response.status_code)
            assert_no_leak(response.data, b, f"{path}?{query}")
            if response.status_code == 200 and "student" in response.get_json():
                assert response.get_json()["student"]["id"] == a.id


def test_identity_headers_never_select_another_student(client, settings, pair, student_gets):
    a, b = pair
    for path in sorted(student_gets):
        for extra in _header_tricks(settings, b):
            headers = {**extra, **bearer(tokens.mint(settings, a.id))}
            response = client.get(f"{API}{path}", headers=headers)
            assert response.status_code < 500, (path, extra, response.status_code)
            assert_no_leak(response.data, b, f"{path} with {sorted(extra)}")


def test_duplicate_status_parameters_filter_only_the_callers_missions(client, settings, pair):
    a, b = pair
    headers = bearer(tokens.mint(settings, a.id))
    for query in (
        "status=pending&status=approved",
        "status=approved&status=pending",
        "status=pending&status=pending,approved",
        "page=1&page=2&page_size=5&page_size=100",
    ):
        response = client.get(f"{API}/missions?{query}", headers=headers)
        assert response.status_code in (200, 400), (query, response.status_code)
        assert_no_leak(response.data, b, query)
        if response.status_code == 200:
            stages = {i["stage"] for i in response.get_json()["items"]}
            if "status" in query:
                assert stages <= {"pending", "approved"}, (query, stages)
        else:
            assert_error(response, 400)


def _path_tricks(path: str) -> list[bytes]:
    """Spellings of `path` a router, proxy or decoder might treat differently."""
    first, _, rest = path.lstrip("/").partition("/")  # "dashboard", "" | "curriculum", "progress"
    tricks = [
        f"{API}/{path.lstrip('/')}/",
        f"{API}//{path.lstrip('/')}",
        f"/api/v1//student/{path.lstrip('/')}",
        f"{API}/./{path.lstrip('/')}",
        f"{API}/x/../{path.lstrip('/')}",
        f"{API}/%2e/{path.lstrip('/')}",
        f"{API}%2F{path.lstrip('/')}",
        f"{API}/{path.lstrip('/').replace('/', '%2F')}",
        f"{API}/%{ord(first[0]):02X}{path.lstrip('/')[1:]}",
        f"{API}/{path.lstrip('/').upper()}",
        f"/API/V1/STUDENT/{path.lstrip('/')}",
        f"{API}/{path.lstrip('/')};user_id=x",
        f"{API}/{path.lstrip('/')}%00",
        f"{API}/{path.lstrip('/')}%20",
        f"{API}/{path.lstrip('/')}.json",
        f"http://127.0.0.1{API}/{path.lstrip('/')}",
    ]
    del rest
    return [t.encode() for t in tricks] + [f"{API}/{path.lstrip('/')}".encode() + b"\x00"]


def test_path_tricks_never_reach_another_students_data(live, settings, pair, student_gets):
    """Over the wire, verbatim: each spelling answers A's own data, a redirect to the canonical
    path, or a JSON 4xx; never B's data and never a 5xx."""
    a, b = pair
    token = tokens.mint(settings, a.id).encode()
    for path in sorted(student_gets):
        for target in _path_tricks(path):
            for query in (b"", b"?user_id=" + b.id.encode()):
                status, head, body = raw_http(
                    live,
                    b"GET " + target + query + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Connection: close\r\nX-User-Id: " + b.id.encode() + b"\r\n"
                    b"Authorization: Bearer " + token + b"\r\n\r\n",
                )
                context = f"GET {target!r}{query!r}"
                assert status < 500, (context, status, body[:200])
                assert_no_leak(body.replace(query, b""), b, context)  # our own query echoed
                if 400 <= status < 500:
                    assert b"application/json" in head, (context, head)
                    assert json.loads(body)["code"] == status
                elif 300 <= status < 400:  # to the canonical path on the same host
                    location = next(
                        line.split(b":", 1)[1].strip().decode()
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"location:")
                    )
                    parts = urlsplit(location)
                    assert parts.netloc in ("", "127.0.0.1"), (context, location)
                    assert parts.path == f"{API}{path}", (context, location)
                    assert parts.query == query.decode().lstrip("?"), (context, location)


def test_the_post_endpoint_never_acts_for_another_student(client, settings, pair, admin_conn):
    """Identifiers of B in the body, query or headers of A's POST queue nothing for B."""
    a, b = pair

    def queued_for_b():
        with admin_conn.cursor() as cur:
            cur.execute(
                "select count(*), max(updated_at) from ops.dashboard_update_queue where user_id = %s",
                (b.id,),
            )
            return cur.fetchone()

    before = queued_for_b()
    headers = bearer(tokens.mint(settings, a.id))
    for body in (
        {"action": "habit_logged", "user_id": b.id},
        {"action": "habit_logged", "sub": b.id},
        {"action": "habit_logged", "student": {"id": b.id}},
        [{"action": "habit_logged", "user_id": b.id}],
    ):
        response = client.post(f"{API}/dashboard/actions", headers=headers, json=body)
        assert_error(response, 400)
    for query in _query_tricks(b):
        for extra in _header_tricks(settings, b)[:6]:
            response = client.post(
                f"{API}/dashboard/actions?{query}",
                headers={**extra, **headers},
                json={"action": "profile_updated"},
            )
            assert response.status_code == 202, response.get_data(as_text=True)
            assert_no_leak(response.data, b, "POST /dashboard/actions")
    assert queued_for_b() == before


# --------------------------------------------------------------------------------------------
# injection: every parameter, every body field
# --------------------------------------------------------------------------------------------

INJECTIONS = {
    "quote": f"' or '{MARKER}'='{MARKER}' --",
    "stacked": f"'; drop table serving.student_dashboard_cache; select '{MARKER}",
    "paren": f"pending') or ('{MARKER}'='{MARKER}",
    "numeric": f"1 or 1=1; select pg_sleep(3) -- {MARKER}",
    "union": f"1 union select user_id::text from serving.student_dashboard_cache -- {MARKER}",
    "placeholder": f"$1 %s %(stages)s :stages {{}} {MARKER}",
    "comment": f"pending/*{MARKER}*/",
    "cast": f"pending'::text||'{MARKER}",
    "rtl": f"\u202epending\u202c{MARKER}",
    "rlm": f"pending\u200f{MARKER}",
    "emoji": f"pending\U0001f680{MARKER}",
    "combining": f"pe\u0301nding{MARKER}",
    "fullwidth": f"\uff50\uff45\uff4e\uff44\uff49\uff4e\uff47{MARKER}",
    "zero-width": f"pend\u200bing{MARKER}",
    "nul": f"pending\x00{MARKER}",
    "nul-first": f"\x00{MARKER}",
    "percent-nul": f"pending%00{MARKER}",
    "long": MARKER + "x" * 10_240,
    "long-digits": "1" * 10_240,
    "newline": f"pending\r\nX-Injected: {MARKER}",
    "json": f'{{"$ne": "{MARKER}"}}',
}


def assert_refused(response, context) -> None:
    assert response.status_code < 500, (context, response.status_code, response.data[:300])
    if response.status_code >= 400:
        assert_error(response)


def test_injected_query_values_are_refused_cleanly(client, settings, pair, student_gets):
    """Every query parameter of every student GET, every payload: a JSON 4xx, never a 5xx."""
    a, b = pair
    headers = bearer(tokens.mint(settings, a.id))
    for path, params in sorted(student_gets.items()):
        for param in params:
            for name, value in INJECTIONS.items():
                response = client.get(f"{API}{path}", query_string={param: value}, headers=headers)
                context = f"{path}?{param}={name}"
                assert_refused(response, context)
                assert_no_leak(response.data, b, context)
                assert MARKER not in response.get_data(as_text=True) or response.status_code == 400
    for param in ("status", "page", "page_size"):
        for value in INJECTIONS.values():
            response = client.get(f"{API}/missions", query_string={param: value}, headers=headers)
            assert_error(response, 400)


def test_raw_nul_bytes_in_the_query_are_refused_cleanly(client, settings, pair, student_gets):
    a, _ = pair
    headers = bearer(tokens.mint(settings, a.id))
    for path, params in sorted(student_gets.items()):
        for param in params:
            for raw in (b"\x00", b"pending\x00", b"1\x00", b"%00", b"1%00", b"\x00" * 1000):
                response = client.get(
                    f"{API}{path}", query_string=f"{param}={raw.decode('latin-1')}", headers=headers
                )
                assert_refused(response, f"{path}?{param}={raw!r}")


def _body_variants(schema: dict) -> list:
    """For each injection: the payload in every top-level property (the others valid where
    an enum names a valid value), the whole body as the payload, and the payload as a key."""
    props = schema.get("properties", {})
    valid = {k: v["enum"][0] for k, v in props.items() if "enum" in v}
    bodies = []
    for value in INJECTIONS.values():
        for prop in props:
            bodies.append({**valid, prop: value})
            bodies.append({**valid, prop: [value]})
        bodies += [value, [value], {value: value}, {**valid, value: 1}]
    return bodies


def test_injected_json_bodies_are_refused_cleanly(client, settings, pair, json_posts):
    a, b = pair
    headers = bearer(tokens.mint(settings, a.id))
    for path, schema in sorted(json_posts.items()):
        for body in _body_variants(schema):
            response = client.post(f"{API}{path}", headers=headers, json=body)
            assert_refused(response, f"POST {path} {str(body)[:60]!r}")
            assert_no_leak(response.data, b, f"POST {path}")
        for raw in (
            b'{"action": "habit_logged\x00"}',
            b'{"action": "habit_logged\\u0000"}',
            b'{"action": "\xff\xfe"}',
            b"\xef\xbb\xbf{}",
            b'{"action": NaN}',
            b'{"action": Infinity}',
            b'{"action": 1e999}',
            b'{"action": "habit_logged", "action": "habit_logged"}',
            b"",
            b"null",
            b"{" * 100,
        ):
            response = client.post(
                f"{API}{path}", headers=headers, data=raw, content_type="application/json"
            )
            assert_refused(response, f"POST {path} {raw[:40]!r}")
    response = client.post(
        f"{API}/dashboard/actions", headers=headers, json={"action": INJECTIONS["quote"]}
    )
    assert_error(response, 400)


# Regression test of a bug found by this battery (fixed): JSON nested a few thousand levels deep (well under the 16 KiB body limit) raises Recursion...
def test_deeply_nested_json_is_a_400(client, settings, pair, json_posts):
    a, _ = pair
    headers = bearer(tokens.mint(settings, a.id))
    failures = []
    for path in sorted(json_posts):
        for body in ("[" * 15_000, '{"a":' * 3_000, '{"action":' + "[" * 5_000 + "]" * 5_000 + "}"):
            for auth in (headers, {}):
                response = client.post(
                    f"{API}{path}", headers=auth, data=body, content_type="application/json"
                )
                if response.status_code >= 500:
                    failures.append((path, body[:12], bool(auth), response.status_code))
    assert not failures, failures


def _sql_texts(admin_conn) -> list[str]:
    return [row[0] for row in _stats(admin_conn, "select query from {}.pg_stat_statements {}")]


def _reset_sql_stats(admin_conn) -> None:
    _stats(admin_conn, "select {}.pg_stat_statements_reset(0, {}, 0)")


def _stats(admin_conn, template: str) -> list[tuple]:
    """Run a pg_stat_statements query over this database's entries (skip when the extension
    is not loaded on this server: shared_preload_libraries, see scripts/bootstrap.sh)."""
    db = "(select oid from pg_database where datname = current_database())"
    sql = template.format("extensions", f"where dbid = {db}" if "from" in template else db)
    try:
        with admin_conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    except (psycopg2.errors.ObjectNotInPrerequisiteState, psycopg2.errors.UndefinedTable) as exc:
        pytest.skip(f"pg_stat_statements unavailable: {exc}")


def test_nothing_injected_reaches_sql_unbound(
    client, settings, pair, student_gets, json_posts, admin_conn
):
    """After every payload in every parameter and body field, pg_stat_statements (which
    normalises bound values to $n) holds none of them; the control: the statements of a valid
    request were recorded, with their values as placeholders."""
    a, _ = pair
    _reset_sql_stats(admin_conn)
    headers = bearer(tokens.mint(settings, a.id))
    for path, params in sorted(student_gets.items()):
        for param in params:
            for value in INJECTIONS.values():
                client.get(f"{API}{path}", query_string={param: value}, headers=headers)
    for path, schema in sorted(json_posts.items()):
        for body in _body_variants(schema):
            client.post(f"{API}{path}", headers=headers, json=body)
    assert (
        client.get(
            f"{API}/missions?status=approved&page=1&page_size=7", headers=headers
        ).status_code
        == 200
    )
    texts = _sql_texts(admin_conn)
    leaked = [t for t in texts if MARKER in t.lower()]
    assert not leaked, leaked
    missions = [t for t in texts if "from api.missions" in t and "limit" in t]
    assert missions, "pg_stat_statements recorded nothing: the check would prove nothing"
    assert all("$" in t and "'approved'" not in t for t in missions), missions


# Regression test of a bug found by this battery (fixed): the statement that switches role and sets the claims (db._SWITCH) ends as `authenticated`,...
def test_token_claims_reach_sql_only_as_placeholders(client, settings, pair, admin_conn):
    a, _ = pair
    _reset_sql_stats(admin_conn)
    token = tokens.mint(settings, a.id, nickname=f"{MARKER}'); drop table x; --")
    assert client.get(f"{API}/profile", headers=bearer(token)).status_code == 200
    texts = _sql_texts(admin_conn)
    assert any("api.profile" in t for t in texts), "nothing recorded: the check would prove nothing"
    leaked = [t for t in texts if MARKER in t.lower() or a.id in t]
    assert not leaked, leaked


# --------------------------------------------------------------------------------------------
# abuse: rate limit, request size, enumeration
# --------------------------------------------------------------------------------------------


def _wait_for_window_start(window: int) -> None:
    time.sleep(window - (time.time() % window) + 0.02)


def test_the_rate_limit_is_per_student_answers_429_with_retry_after_and_recovers(
    settings, pair, population, redis_client
):
    window = 3
    limited = dataclasses.replace(
        settings,
        rate_limit=5,
        rate_window_seconds=window,
        rq_queue_prefix=settings.rq_queue_prefix + "-sec-rl",
    )
    application = create_app(limited)
    client = application.test_client()
    a, b = pair
    try:
        a_headers, b_headers = (
            bearer(tokens.mint(settings, a.id)),
            bearer(tokens.mint(settings, b.id)),
        )
        upper = bearer(hs256(settings, claims_for(settings, a.id.upper())))
        _wait_for_window_start(window)
        codes = [client.get(f"{API}/profile", headers=a_headers).status_code for _ in range(5)]
        blocked = client.get(f"{API}/profile", headers=a_headers)
        other_spelling = client.get(f"{API}/profile", headers=upper)
        other_student = client.get(f"{API}/profile", headers=b_headers)
        assert codes == [200] * 5
        body = assert_error(blocked, 429)
        assert body.get("message")
        assert 1 <= int(blocked.headers["Retry-After"]) <= window + 1
        assert other_spelling.status_code == 429, (
            "another spelling of the same sub is the same bucket"
        )
        assert other_student.status_code == 200, "the limit is per student"
        assert_no_leak(blocked.data, b, "a 429")
        _wait_for_window_start(window)
        assert client.get(f"{API}/profile", headers=a_headers).status_code == 200
    finally:
        application.extensions["och_engine"].dispose()


@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "no-token"])
def test_a_20_kb_body_is_a_413_in_the_one_error_shape(
    client, settings, pair, json_posts, authenticated
):
    a, _ = pair
    headers = bearer(tokens.mint(settings, a.id)) if authenticated else {}
    body = json.dumps({"action": "habit_logged", "pad": "x" * 20_000})
    response = client.post(
        f"{API}/dashboard/actions", headers=headers, data=body, content_type="application/json"
    )
    if authenticated:
        assert_error(response, 413)
    else:
        assert response.status_code in (401, 413)
        assert_error(response)
    huge = json.dumps({"pad": "x" * 200_000})  # over any endpoint's own limit
    for path in sorted(json_posts):
        response = client.post(
            f"{API}{path}", headers=headers, data=huge, content_type="application/json"
        )
        assert response.status_code in ((413,) if authenticated else (401, 413)), path
        assert_error(response)


def test_a_chunked_body_over_the_limit_is_refused_over_the_wire(live, settings, pair):
    """No Content-Length to check up front: the limit must still hold while reading."""
    a, _ = pair
    token = tokens.mint(settings, a.id).encode()
    payload = b'{"action": "habit_logged", "pad": "' + b"x" * 40_000 + b'"}'
    chunked = (
        b"".join(
            b"%x\r\n%s\r\n" % (len(payload[i : i + 4096]), payload[i : i + 4096])
            for i in range(0, len(payload), 4096)
        )
        + b"0\r\n\r\n"
    )
    status, head, body = raw_http(
        live,
        b"POST " + API.encode() + b"/dashboard/actions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Connection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer " + token + b"\r\n\r\n" + chunked,
    )
    assert status in (400, 413, 411), (status, body[:200])
    assert json.loads(body)["code"] == status


# Regression test of a bug found by this battery (fixed): a chunked body (no Content-Length) over MAX_CONTENT_LENGTH is not refused: werkzeug's Limi...
def test_a_chunked_body_over_the_limit_is_a_413_even_when_its_prefix_is_valid_json(
    live, settings, pair
):
    a, _ = pair
    token = tokens.mint(settings, a.id).encode()
    payload = b'{"action": "habit_logged"}' + b" " * 40_000  # valid JSON at any cut
    chunked = (
        b"".join(
            b"%x\r\n%s\r\n" % (len(payload[i : i + 4096]), payload[i : i + 4096])
            for i in range(0, len(payload), 4096)
        )
        + b"0\r\n\r\n"
    )
    status, _, body = raw_http(
        live,
        b"POST " + API.encode() + b"/dashboard/actions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Connection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer " + token + b"\r\n\r\n" + chunked,
    )
    assert status == 413, (status, body[:200])


def _median_ms(client, path, headers, rounds) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


@pytest.mark.parametrize("kind", ["forged", "expired", "wrong-audience"])
def test_invalid_tokens_do_not_tell_existing_students_from_unknown_ones(
    client, settings, pair, kind
):
    """Identical 401 (status, headers, bytes) for an existing and an unknown sub, in similar
    time. (A *valid* token differs by design, 200 vs 404: its sub is the caller's own
    identity, so there is no one else to enumerate.)"""
    a, _ = pair
    unknown = str(uuid.uuid4())

    def header(sub):
        now = int(time.time())
        claims = claims_for(settings, sub)
        if kind == "forged":
            return bearer(hs256(settings, claims, key="not-the-secret-" * 3))
        if kind == "expired":
            return bearer(hs256(settings, {**claims, "exp": now - 3600}))
        return bearer(hs256(settings, {**claims, "aud": "another-service"}))

    existing, missing = header(a.id), header(unknown)
    for path in sorted(KNOWN_GETS):
        one = client.get(f"{API}{path}", headers=existing)
        two = client.get(f"{API}{path}", headers=missing)
        assert one.status_code == two.status_code == 401
        assert one.data == two.data
        assert sorted(one.headers.items()) == sorted(two.headers.items())
    rounds = 30
    _median_ms(client, f"{API}/dashboard", existing, 5)  # warm up
    control_a = _median_ms(client, f"{API}/dashboard", existing, rounds)
    control_b = _median_ms(client, f"{API}/dashboard", existing, rounds)
    if max(control_a, control_b) > 3 * min(control_a, control_b) + 1:
        pytest.skip(
            f"too noisy to compare timings (same request: {control_a:.2f} vs {control_b:.2f} ms)"
        )
    times = {"existing": [], "unknown": []}
    for _ in range(rounds):  # interleaved, so drift hits both alike
        times["existing"].append(_median_ms(client, f"{API}/dashboard", existing, 1))
        times["unknown"].append(_median_ms(client, f"{API}/dashboard", missing, 1))
    e, u = statistics.median(times["existing"]), statistics.median(times["unknown"])
    assert max(e, u) < 3 * min(e, u) and abs(e - u) < 5, (
        f"existing {e:.2f} ms vs unknown {u:.2f} ms"
    )
