"""The gateway as ``botwatch gateway`` runs it: a real uvicorn process on 127.0.0.1.

Draining on SIGTERM/SIGINT (nothing acknowledged is lost), idempotency that
survives a restart, clients that disconnect, and hostile connections
(slowloris, giant headers) that must not slow the health check down.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from typing import Any

import pytest
from gateway_support import LIMITS, PLAIN_TOKEN, Gateway, example_event, signed_headers

from botwatch import semconv
from botwatch.gateway.server import DRAIN_SECONDS
from botwatch.stack.ports import free_port


@pytest.fixture
def gateways(tmp_path):
    started: list[Gateway] = []

    def make(**options: Any) -> Gateway:
        gateway = Gateway(tmp_path, **options)
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.kill()


def send_batches(gateway: Gateway, run: str, batches: int = 4, size: int = 50) -> set[str]:
    """``batches`` requests of ``size`` events, all acknowledged (200); their event ids."""
    acknowledged: set[str] = set()
    for b in range(batches):
        events = [
            example_event(event_id=f"{run}_{b}_{n}", session_id=f"sess_{run}_{n % 7}", latency_ms=900)
            for n in range(size)
        ]
        status, answer = gateway.post(events)
        assert status == 200 and answer["accepted"] == size, answer
        acknowledged |= {e["event_id"] for e in events}
    return acknowledged


# -- draining ----------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_every_acknowledged_event_into_the_journal(gateways, sig):
    gateway = gateways().start()
    acknowledged = send_batches(gateway, "drain")
    started = time.monotonic()
    assert gateway.stop(sig) == 0, gateway.log.read_text()
    assert time.monotonic() - started < DRAIN_SECONDS
    assert gateway.journal_ids() == acknowledged
    assert "Traceback" not in gateway.log.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_every_acknowledged_event_to_an_otlp_receiver(gateways, receiver, sig):
    receiver.clear()
    gateway = gateways(endpoint=receiver.url).start()
    acknowledged = send_batches(gateway, f"otlp{sig}")
    assert gateway.stop(sig) == 0, gateway.log.read_text()
    # Everything arrived before the process exited: no waiting here.
    exported = {s["attributes"].get(semconv.GATEWAY_EVENT_ID) for s in receiver.spans()}
    assert acknowledged <= exported
    assert len([s for s in receiver.spans() if s["name"] == semconv.SPAN_TURN]) == len(acknowledged)


# -- idempotency across a restart ----------------------------------------------------------
def test_signed_request_replayed_after_a_restart_is_a_duplicate(gateways):
    gateway = gateways().start()
    body = json.dumps(example_event(event_id="replayed_after_restart")).encode()
    headers = signed_headers(body)
    status, first = gateway.request("POST", "/v1/events", body, headers)
    assert status == 200 and json.loads(first)["accepted"] == 1
    assert gateway.stop() == 0
    assert (gateway.tmp / "gateway-state.sqlite").exists()  # beside the journal
    gateway.start()
    status, again = gateway.request("POST", "/v1/events", body, headers)  # the captured request, as it was
    assert status == 200, again
    assert json.loads(again)["results"][0]["status"] == "duplicate"
    assert gateway.stop() == 0
    assert gateway.journal_ids() == {"replayed_after_restart"}


# -- disconnects -------------------------------------------------------------------------
def test_client_leaving_mid_body_is_no_server_error(gateways):
    gateway = gateways().start()
    for cut in (0, 5, 40):
        with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
            body = json.dumps(example_event(event_id=f"cut{cut}")).encode()
            head = (
                f"POST /v1/events HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {PLAIN_TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode() + body[:cut])
            time.sleep(0.2)
    status, answer = gateway.post(example_event(event_id="after_the_cuts"))
    assert status == 200 and answer["accepted"] == 1
    assert gateway.stop() == 0
    log = gateway.log.read_text()
    assert "Exception in ASGI application" not in log and "Traceback" not in log, log
    assert gateway.journal_ids() == {"after_the_cuts"}  # nothing half-read was recorded


# -- hostile connections ------------------------------------------------------------------
def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536, socket.MSG_DONTWAIT) == b"" or _closed(sock)
    except BlockingIOError:
        return False
    except OSError:
        return True


def _connect(port: int, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def _probe_live(gateway: Gateway, seconds: float, during: Any) -> list[float]:
    """/health/live latencies over one keep-alive connection from 127.0.0.1 while ``during()`` runs."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        during()
        started = time.perf_counter()
        connection.request("GET", "/health/live")
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        assert response.status == 200
        time.sleep(0.01)
    connection.close()
    return latencies


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def test_slow_headers_and_slow_bodies_are_cut_off_and_health_stays_fast(gateways):
    gateway = gateways().start()
    limit, timeout = LIMITS["max_connections_per_ip"], LIMITS["header_timeout"]
    # 60 slowloris connections from one address: 20 are kept (then cut at the header timeout), 40 closed at once.
    slow_heads = [_connect(gateway.port, "127.0.0.2") for _ in range(60)]
    for sock in slow_heads:
        sock.send(b"POST /v1/events HTTP/1.1\r\nHost: gw\r\n")
    # 15 senders with a valid token whose body trickles in.
    body_head = (
        f"POST /v1/events HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {PLAIN_TOKEN}\r\nContent-Length: 5000\r\n\r\n"
    ).encode()
    slow_bodies = [_connect(gateway.port, "127.0.0.3") for _ in range(15)]
    for sock in slow_bodies:
        sock.send(body_head + b"[")
    # 15 unauthenticated slow bodies: answered 401 at once, then closed.
    anonymous = [_connect(gateway.port, "127.0.0.4") for _ in range(15)]
    for sock in anonymous:
        sock.send(b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Length: 5000\r\n\r\n[")
    started = time.monotonic()
    closed_at: dict[int, float] = {}
    everyone = slow_heads + slow_bodies + anonymous

    def trickle() -> None:
        for n, sock in enumerate(everyone):
            if n in closed_at:
                continue
            if _closed(sock):
                closed_at[n] = time.monotonic() - started
                continue
            try:
                sock.send(b"X" if n < len(slow_heads) else b" ")
            except OSError:
                closed_at[n] = time.monotonic() - started

    early: set[int] = set()
    while len(early) < len(slow_heads) - limit and time.monotonic() - started < 1.0:
        time.sleep(0.05)
        early |= {n for n in range(len(slow_heads)) if n not in early and _closed(slow_heads[n])}
    latencies = _probe_live(gateway, timeout + 1.5, trickle)
    for sock in everyone:
        sock.close()
    assert len(early) == len(slow_heads) - limit  # over the per-address bound: closed at once
    assert len(closed_at) == len(everyone), f"still open: {len(everyone) - len(closed_at)}"
    assert max(closed_at.values()) < timeout + 1.0
    # Answered 401 without reading the body, then closed: long before any timeout would have.
    assert all(closed_at[len(slow_heads) + len(slow_bodies) + n] < timeout for n in range(len(anonymous)))
    assert _p99(latencies) < 0.1, (_p99(latencies), len(latencies))
    assert len(latencies) >= 50


def test_giant_headers_are_refused_and_health_stays_fast(gateways):
    gateway = gateways().start()
    giant = b"X-Big: " + b"a" * (1 << 20) + b"\r\n"
    answers: list[bytes] = []
    socks = [_connect(gateway.port, "127.0.0.5") for _ in range(10)]
    state = {"sent": 0}

    def send_next() -> None:
        if state["sent"] < len(socks):
            sock = socks[state["sent"]]
            state["sent"] += 1
            with contextlib.suppress(OSError):  # closed while we were still sending: refused early
                sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: gw\r\n" + giant + b"\r\n")
            sock.settimeout(5)
            try:
                answers.append(sock.recv(200))
            except OSError:
                answers.append(b"")

    latencies = _probe_live(gateway, 2.0, send_next)
    for sock in socks:
        sock.close()
    assert state["sent"] == len(socks)
    assert all(a == b"" or a.startswith(b"HTTP/1.1 431") for a in answers), answers
    assert any(a.startswith(b"HTTP/1.1 431") for a in answers)
    assert _p99(latencies) < 0.1, _p99(latencies)
    many = "".join(f"X-H{n}: v\r\n" for n in range(200)).encode()
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: gw\r\n" + many + b"\r\n")
        assert sock.recv(200).startswith(b"HTTP/1.1 431")  # too many headers


# -- export ---------------------------------------------------------------------------
def test_export_keeps_the_event_id_action_and_crm_id_of_an_event_without_text(gateways):
    gateway = gateways().start()
    textless = example_event(event_id="evt_textless", session_id="sess_export", latency_ms=700)
    textless.pop("bot_response")
    plain = example_event(event_id="evt_with_text", session_id="sess_export2", text="Здравствуйте", latency_ms=500)
    assert gateway.post([textless, plain])[1]["accepted"] == 2
    assert gateway.stop() == 0
    out = gateway.tmp / "events.jsonl"
    command = [sys.executable, "-m", "botwatch.cli", "export", "--since", "1d", "--format", "jsonl"]
    command += ["--out", str(out), "--journal", str(gateway.journal), "--quiet"]
    env = {**os.environ, "BOTWATCH_SECRET": "server-test-secret-0123456789"}
    subprocess.run(command, check=True, env=env, capture_output=True, cwd=gateway.tmp)
    rows = {r["event_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert {"evt_textless", "evt_with_text"} <= set(rows), list(rows)
    assert (rows["evt_textless"]["action"], rows["evt_textless"]["crm_id"]) == ("create_lead", "BX_LEAD_4521")
    assert rows["evt_with_text"]["text"] == "Здравствуйте"


def test_an_unusable_state_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTWATCH_"))}
    env |= {
        "BOTWATCH_GATEWAY_TOKEN": PLAIN_TOKEN,
        "BOTWATCH_SECRET": "server-test-secret-0123456789",
        "BOTWATCH_JOURNAL": str(tmp_path / "journal.sqlite"),
        "BOTWATCH_GATEWAY_STATE": str(blocker / "state.sqlite"),
    }
    command = [sys.executable, "-m", "botwatch.cli.gateway_command", "--port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot open" in done.stderr and "state.sqlite" in done.stderr and "Traceback" not in done.stderr


def test_untimed_turns_stay_out_of_the_journal_sla_figures(gateways):
    from datetime import UTC, datetime, timedelta

    from botwatch.journal.format import format_replay
    from botwatch.journal.kpi import compute_kpi
    from botwatch.journal.replay import build_replay

    gateway = gateways().start()
    slow = example_event(event_id="slow", session_id="sess_slow", latency_ms=5000, text="Запишите на завтра")
    untimed = example_event(event_id="untimed", session_id="sess_untimed", text="А на послезавтра?")  # no latency_ms
    assert gateway.post([slow, untimed])[1]["accepted"] == 2
    assert gateway.stop() == 0
    now = datetime.now(UTC)
    with sqlite3.connect(gateway.journal) as db:
        kpi = compute_kpi(db, now - timedelta(hours=1), now + timedelta(minutes=1))
    assert (kpi.turns, kpi.timed_turns, kpi.turns_over_sla) == (2, 1, 1)
    assert kpi.sla_breach_share == 1.0  # the one measured turn was slow; the untimed one is not "within SLA"
    assert kpi.turn_p50_s == 5.0
    with sqlite3.connect(gateway.journal) as db:
        untimed_replay = format_replay(build_replay(db, "plain:sess_untimed"))
        slow_replay = format_replay(build_replay(db, "plain:sess_slow"))
    assert "turn 1 in 5.00 s, over the 3 s SLA" in slow_replay
    assert "Записал на 15:00" in untimed_replay and "turn 1 in" not in untimed_replay  # no measured 0.00 s
    out = gateway.tmp / "untimed.jsonl"
    command = [sys.executable, "-m", "botwatch.cli", "export", "--since", "1d", "--format", "jsonl", "--quiet"]
    command += ["--out", str(out), "--journal", str(gateway.journal)]
    env = {**os.environ, "BOTWATCH_SECRET": "server-test-secret-0123456789"}
    subprocess.run(command, check=True, env=env, capture_output=True, cwd=gateway.tmp)
    rows = {r["event_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["slow"]["latency_ms"] == 5000.0
    assert rows["untimed"].get("latency_ms") is None  # not a measured 0 ms: the webhook said nothing
