"""schemathesis against the live OpenAPI document of a real server on loopback.

The app runs under a real WSGI server (werkzeug's threaded server) in a background thread, on
the session's sandbox database, with the rate limit off. The schema is loaded from the server's
own /openapi.json, so an endpoint added later is fuzzed without touching this file.

- test_every_operation_keeps_its_contract: schemathesis's engine (what `schemathesis run`
  does), authenticated as a student of each tier: the probing, examples, coverage and fuzzing
  phases (stateful runs too, once the document declares links), positive and negative data,
  and every check it has (not_a_server_error, response schema / status code / content type /
  headers conformance, negative data rejection, positive data acceptance, ignored_auth with its
  missing- and invalid-auth probes, unsupported_method, ...). Any failure fails the test with
  schemathesis's curl to reproduce it. Event-stream operations are left to their own tests.
- test_without_valid_credentials_every_student_operation_is_401: schemathesis-generated
  requests (valid and invalid data) to every token-protected operation, without credentials or
  with invalid ones (garbage, expired, forged, alg none): 401 with a Bearer challenge, in the
  one error shape.

Why the engine and not `schemathesis.pytest.from_fixture`: the lazy pytest loader of
schemathesis 4.32.5 reads `Function._nodeid`, which pytest 9 no longer has (AttributeError).

Bounded for CI: MAX_EXAMPLES per operation (fuzzing phase; the coverage phase is a fixed set),
derandomized, with a fixed seed and no example database, so a run is reproducible.
The whole file takes 35-50 s on two cores (each tier's engine run 10-17 s).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections import Counter

import hypothesis
import jwt
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.engine import StopReason, events, from_schema
from werkzeug.serving import make_server

from och_dashboard import create_app, tokens

STUDENT_PREFIX = "/api/v1/student"
TIERS = ("free", "starter3", "professional7")
MAX_EXAMPLES = 60  # per operation, fuzzing phase, per tier
SWEEP_EXAMPLES = 15  # per operation, per credential kind, for the 401 sweeps
FUZZ_SEED = 20_251_126
REQUEST_TIMEOUT = 30
EVENT_STREAM = "text/event-stream"
ERROR_KEYS = {"code", "status", "message", "errors"}

# Failures of a known, reported product bug, matched narrowly (check name, words of the
# message), each with a regression test below. Empty: every bug found so far is fixed.
KNOWN_BUGS: dict[str, tuple[str, str]] = {}


# --------------------------------------------------------------------------------------------
# the live server, the identities, the schema
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(settings):
    """http://127.0.0.1:<port> of the app under werkzeug's threaded server (rate limit off)."""
    app = create_app(dataclasses.replace(settings, rate_limit=0))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="fuzz-api", daemon=True)
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)  # thousands of access lines help nobody
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        access_log.setLevel(level)
        app.extensions["och_engine"].dispose()


@pytest.fixture(scope="module")
def tier_students(sandbox):
    """One seeded student per effective tier (the tier in force now, from the database): the
    middle one by id, away from the first and last ones other test files pick."""
    with contextlib.closing(sandbox.connect()) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select e.effective_tier,
                   (array_agg(c.user_id::text order by c.user_id))[(count(*) + 1) / 2]
              from serving.student_dashboard_cache c
              cross join lateral dashboard.entitlements(c.tier, c.subscription_status,
                                                        c.period_end, c.enhanced_access_start, now()) e
             group by 1
            """
        )
        found = dict(cur.fetchall())
    assert set(TIERS) <= set(found), found
    return found


def load_schema(base: str, headers: dict | None = None):
    """The live document, configured for a bounded, reproducible run."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", wait_for_schema=10)
    schema.config.seed = FUZZ_SEED
    schema.config.update(headers=headers, request_timeout=REQUEST_TIMEOUT, continue_on_failure=True)
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    return schema


def operations_of(raw: dict) -> dict[tuple[str, str], dict]:
    """(METHOD, path) -> operation object, for every operation of the document."""
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {
        (method.upper(), path): operation
        for path, item in raw["paths"].items()
        for method, operation in item.items()
        if method in methods
    }


def needs_token(raw: dict, operation: dict) -> bool:
    return bool(operation.get("security", raw.get("security", [])))


def streams(operation: dict) -> bool:
    """Its success response is an event stream (a body that does not end)."""
    return any(EVENT_STREAM in r.get("content", {}) for r in operation["responses"].values())


@pytest.fixture(scope="module")
def document(live_server):
    return requests.get(f"{live_server}/openapi.json", timeout=10).json()


def test_the_document_declares_every_student_operation_protected(document):
    ops = operations_of(document)
    assert {
        ("GET", f"{STUDENT_PREFIX}/dashboard"),
        ("GET", f"{STUDENT_PREFIX}/profile"),
        ("GET", f"{STUDENT_PREFIX}/curriculum/progress"),
        ("GET", f"{STUDENT_PREFIX}/missions"),
        ("POST", f"{STUDENT_PREFIX}/dashboard/actions"),
    } <= set(ops)
    unprotected = [key for key, op in ops.items() if not needs_token(document, op)]
    assert all(not path.startswith(STUDENT_PREFIX) for _, path in unprotected), unprotected
    for key, op in ops.items():
        if needs_token(document, op):
            assert "401" in op["responses"], f"{key} does not document its 401"


# --------------------------------------------------------------------------------------------
# every operation, every check, each tier
# --------------------------------------------------------------------------------------------


def _matches_known_bug(check: str, message: str) -> str | None:
    for name, (known_check, words) in KNOWN_BUGS.items():
        if check == known_check and words in message:
            return name
    return None


def run_engine(schema) -> tuple[list[str], Counter, Counter]:
    """Run schemathesis's engine over `schema`: (failures as text, cases per operation,
    failures of known bugs by name)."""
    failures: list[str] = []
    cases: Counter = Counter()
    known: Counter = Counter()
    finished = None
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases[recorder.label] += len(recorder.cases)
            for nodes in recorder.checks.values():
                for node in nodes:
                    if node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    bug = _matches_known_bug(node.name, failure.message)
                    if bug:
                        known[bug] += 1
                        continue
                    failures.append(
                        f"[{event.phase.value}] {recorder.label}: {node.name}: {failure.title}\n"
                        f"{failure.message}\n{node.failure_info.code_sample}"
                    )
        elif isinstance(event, events.NonFatalError):
            failures.append(f"[error] {event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            failures.append(f"[fatal] {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None and finished.stop_reason == StopReason.COMPLETED, finished
    return failures, cases, known


@pytest.mark.parametrize("tier", TIERS)
def test_every_operation_keeps_its_contract(live_server, settings, tier_students, tier):
    """All of schemathesis's phases and checks, authenticated with a valid token of the tier.
    Event-stream operations are left to their own tests: a stream that does not end cannot be
    validated as one document (the 401 sweeps below still cover them)."""
    token = tokens.mint(settings, tier_students[tier])
    schema = load_schema(live_server, headers={"Authorization": f"Bearer {token}"})
    ops = operations_of(schema.raw_schema)
    streaming = sorted({path for (_, path), op in ops.items() if streams(op)})
    if streaming:
        schema = schema.exclude(path=streaming)
    started = time.monotonic()
    failures, cases, _known = run_engine(schema)
    elapsed = time.monotonic() - started
    expected = {f"{m} {p}" for (m, p), op in ops.items() if p not in streaming}
    assert not failures, f"{len(failures)} schemathesis failure(s) as {tier}:\n\n" + "\n\n".join(
        failures
    )
    assert expected <= set(cases), f"operations never exercised: {expected - set(cases)}"
    assert all(cases[label] > 0 for label in expected), cases
    assert elapsed < 120, f"the {tier} run took {elapsed:.0f}s: lower MAX_EXAMPLES"


# Regression test of a bug found by this battery (fixed): 405 responses drop the Allow header (flask-smorest's JSON error handler discards werkzeug'...
def test_method_not_allowed_names_the_allowed_methods(
    live_server, settings, tier_students, document
):
    """Every path answers an undeclared method with 405 and an Allow header listing the
    declared ones (schemathesis's unsupported_method check), authenticated so that the 405 is
    not preempted by the 401 of the authentication that runs first."""
    headers = {"Authorization": f"Bearer {tokens.mint(settings, tier_students['free'])}"}
    missing = []
    for template, item in document["paths"].items():
        path = fill_path(template, item)
        declared = {m.upper() for m in item if m in {"get", "post", "put", "patch", "delete"}}
        undeclared = next(m for m in ("DELETE", "PUT", "PATCH", "POST") if m not in declared)
        response = requests.request(
            undeclared, f"{live_server}{path}", headers=headers, timeout=REQUEST_TIMEOUT
        )
        assert response.status_code == 405, (path, response.status_code)
        assert response.json()["code"] == 405
        allow = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
        if not declared <= allow:
            missing.append((path, undeclared, response.headers.get("Allow")))
    assert not missing, missing


def fill_path(template: str, item: dict) -> str:
    """A concrete path for a templated one: a UUID for uuid parameters, 1 for integers."""
    params = list(item.get("parameters", []))
    for operation in item.values():
        if isinstance(operation, dict):
            params += operation.get("parameters", [])
    for param in params:
        if param.get("in") == "path":
            schema = param.get("schema", {})
            value = "1" if schema.get("type") == "integer" else str(uuid.uuid4())
            template = template.replace("{" + param["name"] + "}", value)
    return template


# --------------------------------------------------------------------------------------------
# without valid credentials: 401 on every student operation
# --------------------------------------------------------------------------------------------


def _invalid_credentials(settings, student: str) -> dict[str, str | None]:
    now = int(time.time())
    claims = {"sub": student, "aud": settings.jwt_audience, "iat": now, "exp": now + 600}
    return {
        "missing": None,
        "garbage": "Bearer not-a-jwt",
        "expired": "Bearer "
        + jwt.encode({**claims, "exp": now - 3600}, settings.jwt_secret, algorithm="HS256"),
        "forged": "Bearer " + jwt.encode(claims, "not-the-secret-" * 3, algorithm="HS256"),
        "alg-none": "Bearer " + jwt.encode(claims, None, algorithm="none"),
    }


def _sweep(base: str, schema, mode: GenerationMode, authorization: str | None) -> list[str]:
    """Generated requests (positive or negative data) to every token-protected operation with
    `authorization` (None: no header at all); the responses that are not a proper 401."""
    problems: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if needs_token(schema.raw_schema, operation.definition.raw):
            tried += _sweep_operation(base, operation, mode, authorization, problems)
    assert tried, "no protected operation was exercised"
    return problems


def _sweep_operation(base, operation, mode, authorization, problems: list[str]) -> int:
    calls = 0
    routed_by_path_parameters = mode.is_negative and "{" in operation.path

    @hypothesis.settings(
        max_examples=SWEEP_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def call(case):
        nonlocal calls
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        case.headers = headers
        if authorization is not None:
            headers = {**headers, "Authorization": authorization}
        response = case.call(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT)
        calls += 1
        if response.status_code == 404 and routed_by_path_parameters:
            return  # an invalid path parameter misses the route itself: no operation to guard
        body = response.json() if response.status_code == 401 else None
        challenge = " ".join(response.headers.get("www-authenticate", []))  # lowercased keys
        if (
            response.status_code != 401
            or not challenge.startswith('Bearer realm="och-dashboard"')
            or not isinstance(body, dict)
            or body.get("code") != 401
            or not set(body) <= ERROR_KEYS
        ):
            problems.append(
                f"{operation.label}: {response.status_code} {response.text[:200]}\n"
                f"  {case.as_curl_command(headers=headers)}"
            )

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):  # nothing to negate here
        call()
    return calls


@pytest.fixture(scope="module")
def anon_schema(live_server):
    schema = load_schema(live_server)
    schema.config.generation.update(with_security_parameters=False)
    return schema


@pytest.mark.parametrize("credentials", ["missing", "garbage", "expired", "forged", "alg-none"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_without_valid_credentials_every_student_operation_is_401(
    live_server, settings, anon_schema, tier_students, mode, credentials
):
    """Valid and invalid parameters and bodies, no valid token: 401 with a challenge for every
    student operation, never a 400 that would describe the API to an anonymous caller (the
    token is for a real student, so nothing but the token is wrong)."""
    authorization = _invalid_credentials(settings, tier_students["professional7"])[credentials]
    problems = _sweep(live_server, anon_schema, mode, authorization)
    assert not problems, "\n".join(problems[:20])


# Regression test of a bug found by this battery (fixed): GET /dashboard/stream with a malformed ticket (shorter than 16 or longer than 64 character...
def test_a_malformed_stream_ticket_is_401(live_server, document):
    ticketed = [
        path
        for (method, path), op in operations_of(document).items()
        if method == "GET" and any(p["name"] == "ticket" for p in op.get("parameters", []))
    ]
    assert ticketed, "no operation takes a ticket any more: remove this test and KNOWN_BUGS"
    problems = []
    for path in ticketed:
        for ticket in ("x", "t" * 15, "t" * 65, "t" * 10_000, "t" * 20 + "\x00"):
            response = requests.get(
                f"{live_server}{path}", params={"ticket": ticket}, timeout=REQUEST_TIMEOUT
            )
            if response.status_code != 401:
                problems.append((path, len(ticket), response.status_code, response.text[:120]))
    assert not problems, problems


def test_a_valid_token_for_an_unknown_student_is_a_clean_404(live_server, settings, document):
    """The one case where a valid token is refused data: JSON 404 in the error shape, never
    a 5xx, on every GET that documents its 404 (an unknown student upstream)."""
    headers = {"Authorization": f"Bearer {tokens.mint(settings, str(uuid.uuid4()))}"}
    for (method, path), op in operations_of(document).items():
        if method != "GET" or "404" not in op["responses"] or streams(op) or "{" in path:
            continue
        response = requests.get(f"{live_server}{path}", headers=headers, timeout=REQUEST_TIMEOUT)
        assert response.status_code == 404, (path, response.status_code, response.text[:200])
        body = response.json()
        assert body["code"] == 404 and set(body) <= ERROR_KEYS, body
