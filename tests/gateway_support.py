"""The gateway's test tokens, events and clients, shared by the tests of several folders.

``client_of``/``post_signed``/``post_plain`` drive the app in process; ``Gateway`` runs
``botwatch gateway`` as a real uvicorn process on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from botwatch import semconv
from botwatch.gateway import GatewayConfig, Tenant
from botwatch.gateway.auth import sign
from botwatch.gateway.server import DRAIN_SECONDS
from botwatch.stack.ports import free_port

SIGNED_TOKEN = "tok_salon_signed_0123456789"
SIGNING_SECRET = b"salon-signing-secret"
PLAIN_TOKEN = "tok_plain_unsigned_0123456789"
PHONE = "+79123456789"
PHONE_FORMS = (b"79123456789", b"9123456789", "Иван".encode())


def tenants(**plain: Any) -> tuple[Tenant, ...]:
    return (
        Tenant("salon", SIGNED_TOKEN, signing_secret=SIGNING_SECRET),
        Tenant("plain", PLAIN_TOKEN, **({"rate": 100_000.0, "burst": 100_000} | plain)),
    )


def config(**overrides: Any) -> GatewayConfig:
    return GatewayConfig(tenants=overrides.pop("tenants", None) or tenants(), **overrides)


def example_event(**overrides: Any) -> dict[str, Any]:
    """The event of issue 7, timestamped now."""
    event = {
        "event_id": "evt_20250101_001",
        "timestamp": (datetime.now(timezone(timedelta(hours=3))) - timedelta(seconds=5)).isoformat(),
        "channel": "whatsapp",
        "client": {"phone": PHONE, "name": "Иван"},
        "session_id": "sess_abc123",
        "intent": "запись_на_приём",
        "confidence": 0.87,
        "bot_response": "Записал на 15:00, отправил напоминание",
        "action": "create_lead",
        "crm_id": "BX_LEAD_4521",
    }
    event.update(overrides)
    return event


def signed_headers(body: bytes, *, token: str = SIGNED_TOKEN, secret: bytes = SIGNING_SECRET, at: float | None = None):
    stamp = str(int(time.time() if at is None else at))
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "X-Botwatch-Timestamp": stamp,
        "X-Botwatch-Signature": sign(secret, stamp, body),
    }


@asynccontextmanager
async def client_of(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app in process; each answer is returned once its accepted events are recorded."""

    async def recorded(response: httpx.Response) -> None:
        assert await app.gateway.recorder.join(timeout=30), "the recorder did not finish"

    transport = httpx.ASGITransport(app=app)
    hooks = {"response": [recorded]}
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", event_hooks=hooks) as client:
        yield client
    await app.gateway.close()


async def post_signed(client: httpx.AsyncClient, payload: Any) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return await client.post("/v1/events", content=body, headers=signed_headers(body))


async def post_plain(client: httpx.AsyncClient, payload: Any) -> httpx.Response:
    return await client.post("/v1/events", json=payload, headers={"Authorization": f"Bearer {PLAIN_TOKEN}"})


# -- a `botwatch gateway` process --------------------------------------------------
EVENT_ID = f'$."{semconv.GATEWAY_EVENT_ID}"'


# Tight limits so the tests are short; the defaults are in botwatch.gateway.gateway_config.
LIMITS = {
    "header_timeout": 1.5,
    "body_timeout": 1.5,
    "max_header_bytes": 16384,
    "max_connections_per_ip": 20,
}


class Gateway:
    """A ``botwatch gateway`` subprocess; journal (default) or OTLP to ``endpoint``."""

    def __init__(self, tmp: Path, *, endpoint: str | None = None) -> None:
        self.tmp, self.endpoint = tmp, endpoint
        self.journal = tmp / "journal.sqlite"
        self.tenants = tmp / "tenants.toml"
        settings = "".join(f"{k} = {v}\n" for k, v in LIMITS.items())
        self.tenants.write_text(
            f"[gateway]\n{settings}"
            f'[[tenants]]\nid = "plain"\ntoken = "{PLAIN_TOKEN}"\nrate = 100000\nburst = 100000\n'
            f'[[tenants]]\nid = "salon"\ntoken = "{SIGNED_TOKEN}"\nsigning_secret = "{SIGNING_SECRET.decode()}"\n'
        )
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tmp / "gateway.log"

    def start(self) -> Gateway:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTWATCH_"))}
        env |= {
            "BOTWATCH_SECRET": "server-test-secret-0123456789",
            "BOTWATCH_JOURNAL": str(self.journal),
            "OTEL_BSP_SCHEDULE_DELAY": "5000",  # nothing exported early by chance: the drain must flush
            "OTEL_BLRP_SCHEDULE_DELAY": "5000",
        }
        if self.endpoint:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.endpoint
        command = [
            sys.executable,
            "-m",
            "botwatch.cli.gateway_command",
            "--port",
            str(self.port),
            "--tenants",
            str(self.tenants),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=self.tmp)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if self.get("/health/ready")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the gateway did not start:\n" + self.log.read_text())

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body or None, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, events: Any, headers: dict[str, str] | None = None) -> Any:
        body = json.dumps(events).encode()
        status, answer = self.request("POST", "/v1/events", body, headers or {"Authorization": f"Bearer {PLAIN_TOKEN}"})
        return status, json.loads(answer)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=DRAIN_SECONDS + 10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def journal_ids(self) -> set[str]:
        with sqlite3.connect(self.journal) as db:
            rows = db.execute(f"SELECT DISTINCT json_extract(attributes, '{EVENT_ID}') FROM spans").fetchall()
        return {r[0] for r in rows if r[0] is not None}
