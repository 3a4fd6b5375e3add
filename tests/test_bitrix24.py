"""The Bitrix24 client against a local server speaking Bitrix24's REST shapes.

``FakePortal`` answers ``/rest/<user>/<token>/<method>.json`` like a portal:
``{"result": ..., "time": {...}}`` on success, ``{"error": CODE,
"error_description": ...}`` with the portal's HTTP statuses on failure
(``QUERY_LIMIT_EXCEEDED`` 503, ``NO_AUTH_FOUND`` 401,
``ERROR_METHOD_NOT_FOUND`` 404, ``INTERNAL_SERVER_ERROR`` 500).  The gateway
tests import it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import botwatch
from botwatch import semconv
from botwatch.crm.bitrix24 import Bitrix24, Bitrix24Error, TokenBucket, bitrix_phone, decode

USER, TOKEN = "1", "w3bh00kt0ken"


class FakePortal:
    def __init__(self) -> None:
        self.leads: dict[int, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.throttle = 0  # answer the next N calls with QUERY_LIMIT_EXCEEDED
        self.fail_with: tuple[int, str] | None = None  # (status, code) for every call
        self.html_status: int | None = None  # answer with a proxy's HTML page
        self._lock = threading.Lock()
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    params = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    params = {}
                status, payload = portal.answer(self.path, params)
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if isinstance(payload, bytes) else "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rest/{USER}/{TOKEN}/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_lead(self, phone: str) -> int:
        lead_id = 100 + len(self.leads)
        self.leads[lead_id] = {"TITLE": "old", "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}]}
        return lead_id

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    @staticmethod
    def _time() -> dict[str, Any]:
        now = time.time()
        stamp = datetime.now(UTC).isoformat()
        return {
            "start": now,
            "finish": now + 0.01,
            "duration": 0.01,
            "processing": 0.005,
            "date_start": stamp,
            "date_finish": stamp,
            "operating_reset_at": int(now) + 600,
            "operating": 0,
        }

    def _error(self, status: int, code: str, description: str) -> tuple[int, Any]:
        return status, {"error": code, "error_description": description}

    def answer(self, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "rest" or parts[1:3] != [USER, TOKEN] or not parts[3].endswith(".json"):
            return self._error(401, "NO_AUTH_FOUND", "Wrong authorization data")
        method = parts[3].removesuffix(".json")
        with self._lock:
            self.calls.append((method, params))
            if self.html_status:
                return self.html_status, b"<html><body>502 Bad Gateway</body></html>"
            if self.fail_with:
                return self._error(self.fail_with[0], self.fail_with[1], "failure")
            if self.throttle > 0:
                self.throttle -= 1
                return self._error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
            handler = {
                "crm.duplicate.findbycomm": self._find,
                "crm.lead.add": self._lead_add,
                "crm.timeline.comment.add": self._comment_add,
            }.get(method)
            if handler is None:
                return self._error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
            return handler(params)

    def _find(self, params: dict[str, Any]) -> tuple[int, Any]:
        if params.get("type") not in ("PHONE", "EMAIL") or not params.get("values"):
            return self._error(400, "ERROR_CORE", "Parameter 'values' is required")
        wanted = set(params["values"])
        found = [i for i, lead in self.leads.items() if {p["VALUE"] for p in lead.get("PHONE", [])} & wanted]
        return 200, {"result": {"LEAD": found} if found else [], "time": self._time()}

    def _lead_add(self, params: dict[str, Any]) -> tuple[int, Any]:
        lead_id = 100 + len(self.leads)
        self.leads[lead_id] = dict(params.get("fields", {}))
        return 200, {"result": lead_id, "time": self._time()}

    def _comment_add(self, params: dict[str, Any]) -> tuple[int, Any]:
        fields = params.get("fields", {})
        if not fields.get("ENTITY_ID") or not fields.get("COMMENT"):
            return self._error(400, "ERROR_CORE", "Required fields missing")
        self.comments.append(fields)
        return 200, {"result": 9000 + len(self.comments), "time": self._time()}


@pytest.fixture
def portal():
    server = FakePortal()
    yield server
    server.close()


class Sleeps:
    """A clock that only moves when the client sleeps: backoff is recorded, not waited."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def fast_client(url: str, **options: Any) -> Bitrix24:
    sleeps = options.pop("sleeps", None) or Sleeps()
    return Bitrix24(url, sleep=sleeps, clock=sleeps.clock, **options)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/rest/{USER}/{TOKEN}/"


def crm_spans(receiver: Any) -> list[dict[str, Any]]:
    return [s for s in receiver.spans() if s["name"].startswith("crm.")]


async def _create(client: Bitrix24, phone: str | None = "8 (912) 345-67-89") -> Any:
    async with botwatch.conversation("sess_bx", channel="whatsapp") as conv:
        async with conv.turn("Хочу записаться") as turn:
            return await client.create_lead(
                turn,
                conversation_id=conv.id,
                trace_url=f"https://grafana.local/trace/{conv.trace_id}",
                phone=phone,
                name="Иван",
            ), conv


async def test_new_client_gets_a_lead_with_conversation_id_and_trace_link(bw, receiver, portal):
    client = fast_client(portal.url)
    result, conv = await _create(client)
    await client.aclose()
    assert result.created and result.error is None
    assert portal.methods() == ["crm.duplicate.findbycomm", "crm.lead.add"]
    assert portal.calls[0][1] == {"entity_type": "LEAD", "type": "PHONE", "values": ["+79123456789"]}
    lead = portal.leads[result.lead_id]
    assert lead["ORIGIN_ID"] == "sess_bx" and lead["NAME"] == "Иван"
    assert lead["PHONE"] == [{"VALUE": "+79123456789", "VALUE_TYPE": "WORK"}]
    assert f"https://grafana.local/trace/{conv.trace_id}" in lead["COMMENTS"] and "sess_bx" in lead["COMMENTS"]
    botwatch.flush()
    spans = {s["name"]: s for s in crm_spans(receiver)}
    assert set(spans) == {"crm.duplicate.find", "crm.lead.create"}
    created = spans["crm.lead.create"]
    assert created["trace_id"] == conv.trace_id
    assert created["attributes"][semconv.CRM_ENTITY_ID] == str(result.lead_id)
    assert created["attributes"][semconv.CRM_OUTCOME] == "success"
    assert created["attributes"][semconv.CRM_SYSTEM] == "bitrix24"
    assert b"79123456789" not in b"".join(receiver.raw)


async def test_known_phone_gets_a_timeline_comment_not_a_second_lead(bw, receiver, portal):
    existing = portal.add_lead("+79123456789")
    client = fast_client(portal.url)
    result, conv = await _create(client, phone="+7 912 345-67-89")
    await client.aclose()
    assert (result.lead_id, result.created) == (existing, False)
    assert len(portal.leads) == 1
    assert portal.methods() == ["crm.duplicate.findbycomm", "crm.timeline.comment.add"]
    assert portal.comments[0]["ENTITY_ID"] == existing and portal.comments[0]["ENTITY_TYPE"] == "lead"
    assert conv.trace_id in portal.comments[0]["COMMENT"]
    botwatch.flush()
    names = sorted(s["name"] for s in crm_spans(receiver))
    assert names == ["crm.duplicate.find", "crm.timeline.comment.add"]


async def test_query_limit_exceeded_backs_off_and_the_span_succeeds_with_its_attempts(bw, receiver, portal):
    portal.throttle = 3
    sleeps = Sleeps()
    # A fast portal rate: after a pause the token bucket refills during the backoff itself,
    # so every recorded wait of 0.2 s or more is a backoff (at 2/s a short, jittered
    # backoff could leave a 0.2 s rate wait behind it).
    client = fast_client(portal.url, sleeps=sleeps, backoff=0.5, rate=1000.0)
    result, _ = await _create(client, phone=None)
    await client.aclose()
    assert result.created
    assert portal.methods() == ["crm.lead.add"] * 4
    backoff = [w for w in sleeps.waits if w >= 0.2]
    assert len(backoff) == 3 and backoff[0] < backoff[1] < backoff[2]  # exponential (with jitter in [0.5, 1])
    botwatch.flush()
    [span] = crm_spans(receiver)
    assert span["attributes"][semconv.CRM_OUTCOME] == "success"
    assert span["attributes"][semconv.CRM_ATTEMPTS] == 4
    retries = [attrs for name, attrs in span["events"] if name == semconv.EVENT_CRM_RETRY]
    assert [r[semconv.ERROR_TYPE] for r in retries] == ["QUERY_LIMIT_EXCEEDED"] * 3


async def test_client_keeps_to_the_portal_rate(portal):
    client = Bitrix24(portal.url, rate=20.0, burst=1)
    started = time.monotonic()
    for _ in range(5):
        await client.find_leads_by_phone("+79123456789")
    await client.aclose()
    assert time.monotonic() - started >= 0.18  # 4 waits of 1/20 s after the first token


async def test_throttling_pauses_every_caller_of_the_client():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=10, clock=lambda: now[0])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    await bucket.acquire(sleep)
    assert waits == []
    bucket.pause(3.0)
    await bucket.acquire(sleep)
    assert sum(waits) >= 3.0


async def test_portal_down_gives_error_span_metric_and_log_and_returns_the_error(bw, receiver):
    sleeps = Sleeps()
    client = fast_client(closed_port_url(), sleeps=sleeps, max_attempts=3)
    result, conv = await _create(client)
    await client.aclose()
    assert result == type(result)(None, created=False, error="ConnectError")
    botwatch.flush()
    spans = {s["name"]: s for s in crm_spans(receiver)}
    lead = spans["crm.lead.create"]  # a failed duplicate search does not stop the lead
    assert lead["attributes"][semconv.CRM_OUTCOME] == "error"
    assert lead["attributes"][semconv.ERROR_TYPE] == "ConnectError"
    assert lead["attributes"][semconv.CRM_ATTEMPTS] == 3  # nothing was sent, so even the write is retried
    assert lead["status"] == 2  # STATUS_CODE_ERROR
    failures = [
        p
        for metric, _ in receiver.metrics()
        if metric.name == semconv.CRM_ACTIONS.name
        for p in metric.sum.data_points
        if {kv.key: kv.value.string_value for kv in p.attributes}.get(semconv.CRM_ACTION) == "lead.create"
    ]
    attrs = {kv.key: kv.value.string_value for kv in failures[0].attributes}
    assert attrs[semconv.CRM_OUTCOME] == "error" and attrs[semconv.ERROR_TYPE] == "ConnectError"
    logged = [r for r in receiver.logs() if r["event_name"] == semconv.EVENT_CRM_ACTION]
    assert any(r["severity"] == "WARN" and r["trace_id"] == conv.trace_id for r in logged)


async def test_a_write_that_may_have_happened_is_not_retried(bw, receiver, portal):
    portal.fail_with = (500, "INTERNAL_SERVER_ERROR")
    client = fast_client(portal.url)
    result, _ = await _create(client, phone=None)
    await client.aclose()
    assert result.error == "INTERNAL_SERVER_ERROR"
    assert portal.methods() == ["crm.lead.add"]  # a retry could make two leads


async def test_errors_that_retrying_cannot_fix_fail_at_once(portal):
    bad = fast_client(portal.url.replace(TOKEN, "wrong"))
    with pytest.raises(Bitrix24Error) as caught:
        await bad.find_leads_by_phone("+79123456789")
    assert (caught.value.code, caught.value.status) == ("NO_AUTH_FOUND", 401)
    client = fast_client(portal.url)
    with pytest.raises(Bitrix24Error) as caught:
        await client.call("crm.nothing.here")
    assert caught.value.code == "ERROR_METHOD_NOT_FOUND"
    assert len(portal.calls) == 1
    portal.html_status = 502
    with pytest.raises(Bitrix24Error) as caught:
        await client.find_leads_by_phone("+79123456789")
    assert caught.value.code == "HTTP_502"
    assert len(portal.calls) == 1 + client.max_attempts  # a read is retried on a proxy error
    await bad.aclose()
    await client.aclose()


def test_decode_reads_bitrix24_shapes():
    ok = httpx.Response(200, json={"result": {"LEAD": [1]}, "time": {"start": 1.0}})
    assert decode(ok) == {"LEAD": [1]}
    throttled = httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    with pytest.raises(Bitrix24Error) as caught:
        decode(throttled)
    assert caught.value.transient and not caught.value.maybe_processed
    with pytest.raises(Bitrix24Error) as caught:
        decode(httpx.Response(200, text="not json"))
    assert caught.value.code == "BAD_RESPONSE"
    assert bitrix_phone("8 (912) 345-67-89") == "+79123456789"
    assert "w3bh00k" not in repr(Bitrix24(f"https://portal.example/rest/1/{TOKEN}/"))
