"""The read endpoints' bodies (fastjson.Body) against marshmallow's dump of the same objects.

/dashboard, /profile, /curriculum/progress and /missions return a ready-made werkzeug Response
instead of letting flask-smorest dump their objects through the schema (the dump cost as much
as the SQL). These tests hold the two together: every seeded student (every upstream tier,
so every effective tier and the masked and unmasked shapes), every endpoint, through the real
request path; the body must be what jsonify(Schema().dump(obj)) gives for the object the view
built: the same keys in the same order, the same values and the same JSON types (75.0, not 75).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from flask import jsonify
from marshmallow import Schema, fields, post_dump

from och_dashboard.api import fastjson, schemas

API = "/api/v1/student"
READS = {
    "dashboard": (f"{API}/dashboard", schemas.Dashboard),
    "profile": (f"{API}/profile", schemas.Profile),
    "curriculum": (f"{API}/curriculum/progress", schemas.CurriculumProgress),
    "missions": (f"{API}/missions?page_size=100", schemas.MissionPage),
    "missions_filtered": (f"{API}/missions?status=pending,in_review", schemas.MissionPage),
}


@pytest.fixture
def captured(monkeypatch):
    """Every (Body, object) the views encode during the test."""
    seen: list[tuple[fastjson.Body, object]] = []
    encode = fastjson.Body.response

    def spy(self, obj, *args, **kwargs):
        seen.append((self, obj))
        return encode(self, obj, *args, **kwargs)

    monkeypatch.setattr(fastjson.Body, "response", spy)
    return seen


def canonical(body) -> str:
    """JSON text that differs whenever keys, their order, values or JSON types differ."""
    return json.dumps(body, ensure_ascii=False)


def marshmallow_body(app, schema: Schema, obj) -> object:
    """What flask-smorest's @blp.response answered: jsonify(schema.dump(obj))."""
    with app.app_context():
        return json.loads(jsonify(schema.dump(obj)).get_data())


@pytest.mark.parametrize("read", list(READS))
def test_every_body_is_the_schema_dump_for_every_student(
    app, client, auth, students, captured, read
):
    path, schema = READS[read]
    every = [sid for tier in sorted(students) for sid in students[tier]]
    assert {"free", "starter3", "professional7"} <= set(students)
    effective = set()
    for sid in every:
        captured.clear()
        response = client.get(path, headers=auth(sid))
        assert response.status_code == 200, response.get_json()
        assert response.mimetype == "application/json"
        assert len(captured) == 1
        body, obj = captured[0]
        assert isinstance(body.schema, schema)
        fast = json.loads(response.get_data())
        assert canonical(fast) == canonical(marshmallow_body(app, body.schema, obj)), sid
        if read == "dashboard":
            effective.add(fast["subscription"]["effective_tier"])
    if read == "dashboard":
        assert effective == {"free", "starter3", "professional7"}


def test_missions_total_on_every_page(client, auth, students):
    headers = auth(students["professional7"][0])
    everything = client.get(f"{API}/missions?page_size=100", headers=headers).get_json()
    total = everything["total"]
    assert total == len(everything["items"]) > 3
    pages = []
    for page in range(1, total // 3 + 3):  # up to two pages past the end
        body = client.get(f"{API}/missions?page_size=3&page={page}", headers=headers).get_json()
        assert body["total"] == total and body["page"] == page and body["page_size"] == 3
        pages += [m["mission_id"] for m in body["items"]]
    assert pages == [m["mission_id"] for m in everything["items"]]
    none = client.get(f"{API}/missions?status=changes_requested,failed", headers=headers)
    expected = [m for m in everything["items"] if m["stage"] in ("changes_requested", "failed")]
    assert none.get_json()["total"] == len(expected)


def test_missions_on_a_cold_start_compute_the_rows_then_sync(client, auth, students, owner_conn):
    student = students["professional7"][1]
    headers = auth(student)
    before = client.get(f"{API}/missions?page_size=100", headers=headers).get_json()
    with owner_conn.cursor() as cur:
        cur.execute("delete from serving.student_dashboard_cache where user_id = %s", (student,))
        cur.execute("delete from serving.student_mission_progress where user_id = %s", (student,))
    response = client.get(f"{API}/missions?page_size=100", headers=headers)
    assert response.status_code == 200
    after = response.get_json()
    assert after["total"] == before["total"] > 0
    assert [m["mission_id"] for m in after["items"]] == [m["mission_id"] for m in before["items"]]
    unknown = client.get(f"{API}/missions", headers=auth(str(uuid.uuid4())))
    assert unknown.status_code == 404


def test_the_schemas_stay_documented(client):
    """The views return Responses, but OpenAPI still documents each 200 with its schema."""
    spec = client.get("/openapi.json").get_json()
    for path, name in (
        ("/api/v1/student/dashboard", "Dashboard"),
        ("/api/v1/student/profile", "Profile"),
        ("/api/v1/student/curriculum/progress", "CurriculumProgress"),
        ("/api/v1/student/missions", "MissionPage"),
    ):
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}


# --- the compiler on values the seeded rows may not hold ----------------------------------------


class Inner(schemas.Base):
    n = fields.Integer()
    when = schemas.UtcDateTime(allow_none=True)


class Everything(schemas.Base):
    f = fields.Float(allow_none=True)
    i = fields.Integer(allow_none=True)
    s = fields.String(allow_none=True)
    b = fields.Boolean(allow_none=True)
    u = fields.UUID(allow_none=True)
    at = schemas.UtcDateTime(allow_none=True)
    day = schemas.IsoDate(allow_none=True)
    renamed = fields.String(data_key="shown_as", allow_none=True)
    sourced = fields.Integer(attribute="elsewhere")
    defaulted = fields.String(dump_default="dflt")
    inner = fields.Nested(Inner, allow_none=True)
    inners = fields.List(fields.Nested(Inner), allow_none=True)
    strings = fields.List(fields.String(), allow_none=True)
    floats = fields.List(fields.Float())
    as_string = fields.Integer(as_string=True)
    raw = fields.Raw(allow_none=True)


ODD = [
    {
        "f": Decimal("12.50"),
        "i": Decimal("7"),
        "s": "plain \u00e9\u00e8 \u2713",
        "b": True,
        "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "at": datetime(2026, 3, 29, 1, 30, 5, 999999, tzinfo=timezone(timedelta(hours=2))),
        "day": date(2026, 2, 28),
        "renamed": "r",
        "elsewhere": 3,
        "inner": {"n": 1.9, "when": "2026-11-20T10:11:10.984086+00:00", "extra": "dropped"},
        "inners": [{"n": 2, "when": None}, None, {"when": "2026-01-01T00:00:00"}],
        "strings": ["a", None, 5],
        "floats": [1, 2.5, Decimal("3.10")],
        "as_string": 42,
        "raw": {"any": ["thing", 1]},
    },
    {  # nulls everywhere they are allowed, keys missing elsewhere
        "f": None,
        "i": None,
        "s": None,
        "b": None,
        "u": "ABCDEF12-1234-5678-1234-567812345678",
        "at": "2026-11-20T10:11:10+05:30",
        "day": "2026-11-20",
        "inner": None,
        "inners": None,
        "strings": None,
        "floats": [],
        "raw": None,
    },
    {"f": 75, "i": 3.99, "b": 0, "s": b"bytes", "at": datetime(2026, 1, 1, 12, 0), "floats": [0]},
    {},
]


@pytest.mark.parametrize("obj", ODD, ids=["values", "nulls", "coercions", "empty"])
def test_the_compiled_encoder_dumps_as_marshmallow_does(obj):
    expected = Everything().dump(obj)
    got = fastjson.Body(Everything).dump(obj)
    assert canonical(got) == canonical(expected)


def test_objects_other_than_dicts_are_read_as_marshmallow_reads_them():
    class Row:
        f = Decimal("1.5")
        elsewhere = 2
        inner = {"n": 4}

    assert fastjson.Body(Everything).dump(Row()) == Everything().dump(Row())


def test_a_schema_with_dump_hooks_is_refused():
    class Hooked(schemas.Base):
        n = fields.Integer()

        @post_dump
        def twice(self, data, **kwargs):
            return {"n": data["n"] * 2}

    with pytest.raises(TypeError, match="dump hooks"):
        fastjson.Body(Hooked)


def test_bodies_are_compact_json_ending_in_a_newline():
    response = fastjson.Body(Inner).response({"n": 1, "when": datetime(2026, 1, 1, tzinfo=UTC)})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_data() == b'{"n":1,"when":"2026-01-01T00:00:00Z"}\n'
