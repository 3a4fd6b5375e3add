"""A local server speaking Bitrix24's REST shapes, and clients of it with a fake clock.

``FakePortal`` answers ``/rest/<user>/<token>/<method>.json`` like a portal:
``{"result": ..., "time": {...}}`` on success, ``{"error": CODE,
"error_description": ...}`` with the portal's HTTP statuses on failure
(``QUERY_LIMIT_EXCEEDED`` 503, ``NO_AUTH_FOUND`` 401,
``ERROR_METHOD_NOT_FOUND`` 404, ``INTERNAL_SERVER_ERROR`` 500).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botwatch.crm.bitrix24 import Bitrix24

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
