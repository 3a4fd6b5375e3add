"""Fuzzing the gateway: schemathesis against the committed OpenAPI document, hypothesis on payloads.

Whatever arrives — junk JSON, wrong types, missing ids, naive or future
timestamps, odd Unicode — the answer is a 2xx or a 4xx with a reason, never a 5xx.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_gateway import PLAIN_TOKEN, REPO, config, example_event

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
