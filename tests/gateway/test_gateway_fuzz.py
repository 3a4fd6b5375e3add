"""Fuzzing the gateway: schemathesis against the committed OpenAPI document, hypothesis on payloads.

Whatever arrives — junk JSON, wrong types, missing ids, naive or future
timestamps, odd Unicode (lone surrogates, control characters), a client that
leaves mid-body — the answer is a 2xx or a 4xx with a reason, never a 5xx;
and every event answered ``accepted`` is in the journal.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from gateway_support import PLAIN_TOKEN, config, example_event
from harness.paths import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import botwatch
from botwatch import semconv
from botwatch.gateway import create_app

APP = create_app(config())
SCHEMA = schemathesis.openapi.from_path(REPO / "docs" / "openapi.json")
AUTH = {"Authorization": f"Bearer {PLAIN_TOKEN}"}


def not_a_server_error(ctx: Any, response: Any, case: Any) -> bool:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    return True


@SCHEMA.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case):
    # Partial acceptance answers 200 to a batch holding schema-invalid events, so the
    # negative-data check does not apply; status codes, bodies and content types must match.
    case.call_and_validate(
        app=APP,
        headers=AUTH,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )


def post(body: bytes) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://gateway") as client:
            return await client.post("/v1/events", content=body, headers=AUTH)

    return asyncio.run(send())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
timestamps = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=30),
    st.builds(lambda s: (datetime.now(UTC) + timedelta(seconds=s)).isoformat(), st.integers(-(10**7), 10**7)),
)
FIELDS = (
    "event_id",
    "timestamp",
    "channel",
    "client",
    "session_id",
    "intent",
    "confidence",
    "bot_response",
    "action",
    "crm_id",
    "direction",
    "text",
    "latency_ms",
    "model",
    "scenario_variant",
    "funnel_stage",
    "turn_index",
    "message_kind",
    "crm_error",
)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    event = example_event(event_id=draw(st.text(min_size=0, max_size=20)) or "e")
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique=True)):
        action = draw(st.sampled_from(("drop", "junk", "text")))
        if action == "drop":
            event.pop(field, None)
        elif action == "junk":
            event[field] = draw(json_values)
        else:
            event[field] = draw(st.text(max_size=60))
    if draw(st.booleans()):
        event["timestamp"] = draw(timestamps)
    return event


@given(st.lists(mutated_events(), min_size=1, max_size=5))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_mutated_events_never_cause_a_server_error(events):
    response = post(json.dumps(events, default=str).encode())
    assert response.status_code in (200, 422), response.text
    results = response.json()["results"]
    assert len(results) == len(events)
    assert all(r["status"] in ("accepted", "duplicate") or r["reason"] for r in results)


@given(json_values)
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_json_never_causes_a_server_error(payload):
    response = post(json.dumps(payload).encode())
    assert response.status_code < 500, response.text


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_bytes_never_cause_a_server_error(body):
    assert post(body).status_code < 500


# -- accepted => recorded: arbitrary strings (lone surrogates and control characters included) ---------
any_char = st.one_of(
    st.characters(exclude_categories=()),
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates: hypothesis never draws them by itself
    st.sampled_from(" \t\n\x00\x1c\x1f\x7f\x85\xa0\u2028\ufeff"),
)
any_text = st.lists(any_char, max_size=12).map("".join)
NAME_FIELDS = ("channel", "intent", "crm_id", "crm_error", "scenario_variant", "message_kind", "action", "model")
TEXT_FIELDS = ("text", "bot_response")
EVENT_ID = f'$."{semconv.GATEWAY_EVENT_ID}"'


@pytest.fixture(scope="module")
def journal_app(tmp_path_factory):
    """The app recording into a real journal, to count what each accepted event left there."""
    patch = pytest.MonkeyPatch()
    patch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    path = tmp_path_factory.mktemp("fuzz") / "journal.sqlite"
    patch.setenv("BOTWATCH_SECRET_FILE", str(path.with_name("secret")))
    botwatch.init(service_name="fuzz-gateway", journal=path, secret="fuzz-secret-0123456789")
    loop = asyncio.new_event_loop()  # one loop: the app's recorder lives on it
    yield create_app(config()), path, loop
    loop.close()
    botwatch.shutdown()
    patch.undo()


def _letters(n: int) -> str:
    return "".join("abcdefghijklmnopqrstuvwxyz"[int(d, 26)] for d in format(n, "x").zfill(4)[-4:])  # no digits


@st.composite
def hostile_events(draw: st.DrawFn, run: str, index: int) -> dict[str, Any]:
    event = example_event(event_id=f"{run}{_letters(index)}-{draw(any_text)}", session_id=f"sess_{run}")
    event.pop("client")  # a drawn phone would be masked in the journal; phones have their own tests
    for field in draw(st.lists(st.sampled_from(NAME_FIELDS + TEXT_FIELDS), max_size=4, unique=True)):
        event[field] = draw(any_text)
    if draw(st.booleans()):
        event["direction"] = "outbound"
    return event


RUNS = iter(range(10**6))


@given(st.data())
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_accepted_event_is_recorded_whatever_its_strings(journal_app, data):
    run = "fz" + _letters(next(RUNS))
    events = [data.draw(hostile_events(run, i)) for i in range(data.draw(st.integers(1, 4)))]
    accepted, recorded = _send_and_count(journal_app, run, events)
    assert recorded == accepted, events


def test_odd_but_valid_strings_are_accepted_and_recorded(journal_app):
    """The property above holds vacuously if everything odd is refused: these must be accepted, and recorded."""
    run = "ok" + _letters(next(RUNS))
    odd = [
        {"text": "a\x00b \x1b[2J\x1b]52;c;eA==\x07 \u2028 \ufeff"},
        {"bot_response": "Записал\u00a0на 15:00 \u200b🚀", "model": "gpt-4o 🚀"},
        {"intent": "запись\u00a0на приём", "scenario_variant": "B\u20112"},
        {"crm_error": "дубль\u200b лида", "crm_id": "BX\u2013LEAD 4521"},
        {"text": "\U0001f600" * 50, "direction": "outbound"},
    ]
    events = []
    for i, fields in enumerate(odd):
        event = example_event(event_id=f"{run}{_letters(i)}-x", session_id=f"sess_{run}")
        event.pop("client")
        events.append(event | fields)
    assert _send_and_count(journal_app, run, events) == (len(odd), len(odd))


def _send_and_count(journal_app: Any, run: str, events: list[dict[str, Any]]) -> tuple[int, int]:
    """Post ``events`` (ids starting ``run`` + 4 letters); (accepted, distinct event ids in the journal)."""
    app, journal, loop = journal_app
    body = json.dumps(events, ensure_ascii=True).encode()  # surrogates travel as \\udXXX escapes

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            response = await client.post("/v1/events", content=body, headers=AUTH)
        assert await app.gateway.recorder.join(timeout=30)
        return response

    response = loop.run_until_complete(send())
    assert response.status_code in (200, 422), response.text
    results = response.json()["results"]
    accepted = sum(r["status"] == "accepted" for r in results)
    assert all(r["status"] == "accepted" or r["reason"] for r in results)
    botwatch.flush()
    with sqlite3.connect(journal) as db:
        recorded = db.execute(
            f"SELECT COUNT(DISTINCT substr(json_extract(attributes, '{EVENT_ID}'), 1, {len(run) + 4})) FROM spans "
            f"WHERE json_extract(attributes, '{EVENT_ID}') LIKE ?",
            (run + "%",),
        ).fetchone()[0]
    return accepted, recorded


@given(cut=st.integers(0, 400), chunks=st.integers(1, 3))
@settings(max_examples=60, deadline=None)
def test_a_client_leaving_mid_body_gets_no_server_error(cut, chunks):
    body = json.dumps([example_event(event_id="left"), example_event(event_id="left2")]).encode()[:cut]
    step = max(1, len(body) // chunks)
    messages = [
        {"type": "http.request", "body": body[i : i + step], "more_body": True} for i in range(0, len(body), step)
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/events",
        "raw_path": b"/v1/events",
        "query_string": b"",
        "headers": [(b"authorization", AUTH["Authorization"].encode()), (b"content-type", b"application/json")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("gateway", 80),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
    }
    asyncio.run(APP(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["error"] == "client_disconnected"
