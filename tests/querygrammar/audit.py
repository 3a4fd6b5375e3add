"""The queries ``--source stack`` sends, captured where Loki, Tempo and Prometheus would receive them.

A local HTTP server answers the three APIs with the smallest valid answers (one low-confidence
turn, no log lines, a vector of ones) so that every code path that builds a query runs, and
records each query as the server decodes it.  Every method of the ``Source`` protocol is
driven for every ``SessionFilter`` combination, with and without a service, with plain and
awkward values (quotes, backslash, braces, Cyrillic).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, get_type_hints
from urllib.parse import parse_qs, urlparse

from botwatch import semconv
from botwatch.audit.source import Source, SourceOptions
from botwatch.audit.stack_source import StackSource
from botwatch.journal.session_queries import SessionFilter
from querygrammar.checker import Query

LANGUAGE = {"/loki/api/v1/query_range": "logql", "/api/search": "traceql", "/api/v1/query": "promql"}
# TraceQL (Grafana's grammar) has only the escapes \\ and \", so no line breaks here.
AWKWARD = 'салон "Ромашка" \\ 50% {x}'
STRINGS = (None, AWKWARD)  # the awkward value takes every path a plain one does
SERVICES = (None, "salon-bot", AWKWARD)
CONVERSATIONS = ("c-0042", AWKWARD)


def every_filter() -> list[SessionFilter]:
    """Each field of SessionFilter over its values: booleans both ways, strings None/plain/awkward."""
    hints = get_type_hints(SessionFilter)
    choices = [
        (False, True) if hints[f.name] is bool else STRINGS
        for f in dataclasses.fields(SessionFilter)
    ]  # fmt: skip
    names = [f.name for f in dataclasses.fields(SessionFilter)]
    return [SessionFilter(**dict(zip(names, combo, strict=True))) for combo in itertools.product(*choices)]


def _answer(path: str) -> tuple[int, Any]:
    now_ns = time.time_ns() - 60 * 10**9
    if path == "/loki/api/v1/query_range":
        return 200, {"status": "success", "data": {"resultType": "streams", "result": []}}
    if path == "/api/search":
        attrs = {semconv.GEN_AI_CONVERSATION_ID: "c-0042", semconv.TURN_INDEX: 1, semconv.INTENT_CONFIDENCE: 0.3}
        span = {
            "spanID": "00f067aa0ba902b7",
            "startTimeUnixNano": str(now_ns),
            "attributes": [
                {"key": k, "value": {"doubleValue": v} if isinstance(v, float) else {"stringValue": str(v)}}
                for k, v in attrs.items()
            ],
        }
        trace = {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "startTimeUnixNano": str(now_ns)}
        return 200, {"traces": [{**trace, "spanSets": [{"spans": [span]}]}]}
    if path == "/api/v1/query":
        sample = {"metric": {semconv.prometheus_label(semconv.GEN_AI_TOKEN_TYPE): "input"}, "value": [0, "1"]}
        return 200, {"status": "success", "data": {"resultType": "vector", "result": [sample]}}
    return 404, {"error": "not found"}  # /api/traces/<id>: the trace is gone


class Recorder:
    """Answers Loki, Tempo and Prometheus queries on one port and keeps (language, query, where)."""

    def __init__(self) -> None:
        self.where = ""
        self.seen: list[Query] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # answers in one round trip, not after a delayed ACK

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = parse_qs(url.query, keep_blank_values=True)
                key = "q" if url.path == "/api/search" else "query"
                if url.path in LANGUAGE:
                    assert len(params.get(key, [])) == 1, f"{url.path} without one {key}= parameter"
                    recorder.seen.append(Query(LANGUAGE[url.path], params[key][0], recorder.where))
                status, body = _answer(url.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def source_methods() -> set[str]:
    """What a Source can be asked (the protocol's methods), so a new one cannot go unchecked."""
    return {name for name, _ in inspect.getmembers(Source, inspect.isfunction) if not name.startswith("_")} - {"close"}


def _calls(until: datetime) -> dict[str, list[tuple[str, Callable[[Source], object]]]]:
    since = until - timedelta(days=7)

    def each(values: Any, call: Callable[[Source, Any], object]) -> list[tuple[str, Callable[[Source], object]]]:
        return [(repr(v), lambda s, v=v: call(s, v)) for v in values]

    return {
        "sessions": each(every_filter(), lambda s, f: s.sessions(f, since, until, limit=20, offset=0)),
        "session": each(CONVERSATIONS, lambda s, c: s.session(c)),
        "replay": each(CONVERSATIONS, lambda s, c: s.replay(c)),
        "conversation_ids": each([since], lambda s, d: list(s.conversation_ids(d, until))),
        "low_confidence_turns": each([since], lambda s, d: s.low_confidence_turns(d, until)),
        "count_log_lines": each([since], lambda s, d: s.count_log_lines(d, until)),
        "log_lines": each([since], lambda s, d: list(s.log_lines(d, until))),
        "client_phone": each(CONVERSATIONS, lambda s, c: s.client_phone(c)),
        "turn_of": each(CONVERSATIONS, lambda s, c: s.turn_of(c, 1)),
        "kpi": each([timedelta(days=7), timedelta(minutes=5)], lambda s, w: s.kpi(w, until)),
    }


def audit_queries() -> Iterator[tuple[str, list[Query]]]:
    """(method, the queries it sent) for every method, service and argument combination."""
    recorder = Recorder()
    until = datetime.now(UTC) + timedelta(hours=1)
    calls = _calls(until)
    assert set(calls) == source_methods(), f"drive every Source method: {sorted(source_methods() ^ set(calls))}"
    try:
        for service in SERVICES:
            options = SourceOptions("stack", None, recorder.url, recorder.url, recorder.url, service=service)
            source = StackSource(options)
            try:
                for method, variants in calls.items():
                    for label, call in variants:
                        recorder.where = f"audit {method}({label}) service={service!r}"
                        start = len(recorder.seen)
                        call(source)
                        yield method, recorder.seen[start:]
            finally:
                source.close()
    finally:
        recorder.close()
