"""Loki's query_range and Tempo's trace-by-id/search over an OTLP capture, multi-tenant like compose's.

The audit and insights stack tests read the stack through it (``botwatch audit`` with BOTWATCH_SOURCE=stack).
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from google.protobuf import json_format
from harness.capture import LOKI_LOGS_PATH, TEMPO_TRACES_PATH, attributes_of, value_of


def _otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _holds(condition: str, resource: Any, span: Any) -> bool:
    lhs, op, rhs = re.match(r"^(\S+)\s*(=|!=|<=|>=|<|>)\s*(.+)$", condition).groups()
    if lhs == "name":
        actual: Any = span.name
    elif lhs.startswith("resource."):
        actual = attributes_of(resource.attributes).get(lhs.removeprefix("resource."))
    else:
        actual = attributes_of(span.attributes).get(lhs.removeprefix("span."))
    if actual is None:
        return False
    expected: Any = json.loads(rhs)
    ops = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}
    ops |= {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}
    try:
        return bool(ops[op](actual, expected))
    except TypeError:
        return False


def _meta(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class FakeLokiTempo:
    """Loki query_range and Tempo trace-by-id / search over the capture; ``garbage`` answers nonsense."""

    def __init__(self, capture, service: str = "audit-salon-bot") -> None:
        self.capture = capture
        self.service = service  # Tempo's rootServiceName
        self.garbage = False
        # Multi-tenant, as compose's Loki (auth_enabled) and Tempo (multitenancy_enabled): the capture is this
        # tenant's data; a request names its tenants in X-Scope-OrgID ("a|b" several) or gets 401 "no org id".
        self.tenant: str | None = None
        self.orgs: list[tuple[str, str | None]] = []  # (path, X-Scope-OrgID) of every request
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                org = self.headers.get("X-Scope-OrgID")
                fake.orgs.append((url.path, org))
                if fake.garbage:
                    return self._send(200, b"<html>proxy error</html>", "text/html")
                if fake.tenant is not None and not org:
                    return self._send(401, b"no org id\n", "text/plain; charset=utf-8")
                if fake.tenant is not None and fake.tenant not in org.split("|"):
                    return self._empty(url.path)
                if url.path == "/loki/api/v1/query_range":
                    return self._json(fake.query_range(params))
                if url.path == "/api/search":
                    return self._json(fake.search(params))
                if url.path.startswith("/api/traces/"):
                    trace = fake.trace(url.path.rsplit("/", 1)[1])
                    return self._json(trace) if trace else self._send(404, b"trace not found", "text/plain")
                self._send(404, b"404 page not found", "text/plain")

            def _json(self, body: Any) -> None:
                self._send(200, json.dumps(body).encode(), "application/json")

            def _empty(self, path: str) -> None:
                """What another tenant's Loki or Tempo holds: nothing."""
                if path == "/loki/api/v1/query_range":
                    return self._json({"status": "success", "data": {"resultType": "streams", "result": []}})
                if path == "/api/search":
                    return self._json({"traces": [], "metrics": {}})
                self._send(404, b"trace not found", "text/plain")

            def _send(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # -- Loki -------------------------------------------------------------------------------------
    def log_entries(self) -> list[tuple[int, str, dict[str, str]]]:
        out = []
        for request in self.capture.requests(LOKI_LOGS_PATH):
            for rl in request.resource_logs:
                resource = attributes_of(rl.resource.attributes)
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        labels = {"service_name": str(resource.get("service.name", ""))}
                        for key, value in attributes_of(record.attributes).items():
                            labels[key.replace(".", "_")] = _meta(value)
                        if record.trace_id:
                            labels["trace_id"] = record.trace_id.hex()
                            labels["span_id"] = record.span_id.hex()
                        labels["severity_text"] = record.severity_text
                        body = value_of(record.body)
                        out.append((record.time_unix_nano, "" if body is None else str(body), labels))
        return out

    def query_range(self, params: dict[str, str]) -> dict[str, Any]:
        query = params["query"]
        selector = re.match(r'^\{service_name(=~|=)"((?:[^"\\]|\\.)*)"\}', query)
        assert selector, query
        filters = re.findall(r'\|\s*(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"', query[selector.end() :])
        start, end, limit = int(params["start"]), int(params["end"]), int(params.get("limit", 100))
        chosen = []
        for t, line, labels in self.log_entries():
            service_ok = (
                re.fullmatch(selector.group(2), labels["service_name"])
                if selector.group(1) == "=~"
                else labels["service_name"] == selector.group(2)
            )
            if service_ok and start <= t < end and all(labels.get(k) == v for k, v in filters):
                chosen.append((t, line, labels))
        chosen.sort(key=lambda e: e[0])
        streams: dict[tuple, list] = defaultdict(list)
        for t, line, labels in chosen[:limit]:
            streams[tuple(sorted(labels.items()))].append([str(t), line])
        result = [{"stream": dict(k), "values": v} for k, v in streams.items()]
        return {"status": "success", "data": {"resultType": "streams", "result": result, "stats": {}}}

    # -- Tempo ------------------------------------------------------------------------------------
    def spans(self) -> dict[str, list[tuple[Any, str, Any]]]:
        traces: dict[str, list] = defaultdict(list)
        for request in self.capture.requests(TEMPO_TRACES_PATH):
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        traces[span.trace_id.hex()].append((rs.resource, ss.scope.name, span))
        return traces

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        spans = self.spans().get(trace_id.lower())
        if not spans:
            return None
        batches = []
        for resource, scope, span in spans:
            batches.append(
                {
                    "resource": json_format.MessageToDict(resource),
                    "scopeSpans": [{"scope": {"name": scope}, "spans": [json_format.MessageToDict(span)]}],
                }
            )
        return {"batches": batches}

    def search(self, params: dict[str, str]) -> dict[str, Any]:
        query, _, select = params["q"].partition("| select(")
        selected = [s.strip().removeprefix("span.") for s in select.rstrip(") ").split(",") if s.strip()]
        spansets = [[c.strip() for c in body.split("&&")] for body in re.findall(r"\{([^}]*)\}", query)]
        start, end = int(params["start"]) * 10**9, int(params["end"]) * 10**9
        found = []
        for trace_id, spans in self.spans().items():
            begin = min(s.start_time_unix_nano for _, _, s in spans)
            if not start <= begin <= end:
                continue
            matched = []
            for conditions in spansets:
                hits = [(r, s) for r, _, s in spans if all(_holds(c, r, s) for c in conditions)]
                if not hits:
                    break
                matched += hits
            else:
                root = next((s for _, _, s in spans if not s.parent_span_id), spans[0][2])
                found.append(
                    {
                        "traceID": trace_id,
                        "rootServiceName": self.service,
                        "rootTraceName": root.name,
                        "startTimeUnixNano": str(begin),
                        "durationMs": 1,
                        "spanSets": [
                            {
                                "spans": [
                                    {
                                        "spanID": s.span_id.hex(),
                                        "startTimeUnixNano": str(s.start_time_unix_nano),
                                        "durationNanos": str(s.end_time_unix_nano - s.start_time_unix_nano),
                                        "attributes": [
                                            {"key": k, "value": _otlp_value(v)}
                                            for k, v in attributes_of(s.attributes).items()
                                            if k in selected
                                        ],
                                    }
                                    for _, s in matched[: int(params.get("spss", 3))]
                                ],
                                "matched": len(matched),
                            }
                        ],
                    }
                )
        found.sort(key=lambda t: int(t["startTimeUnixNano"]), reverse=True)
        return {"traces": found[: int(params.get("limit", 20))], "metrics": {"inspectedTraces": len(found)}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
