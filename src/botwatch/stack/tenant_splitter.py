"""Loki and Tempo multi-tenancy for compose: one OTLP request in, one request per tenant out, each with its
``X-Scope-OrgID``.

The collector's Tempo and Loki exporters send here (``TEMPO_OTLP_ENDPOINT``/``LOKI_OTLP_ENDPOINT``);
this splits each request by ``botwatch.tenant`` and forwards every tenant's part to Tempo
(``/v1/traces``) or Loki (``/otlp/v1/logs``) with ``X-Scope-OrgID: <tenant>``.  Data without a tenant
(the gateway's own spans, the demo, the collector) goes to the integrator's org, ``_integrator``
(a tenant id cannot start with "_", so it never collides).

Why here and not in the collector (README, "Tenants: isolation"): the collector release botwatch
builds against (0.161.0) has neither the ``headers_setter`` extension nor the routing connector
available from the Go module proxy, and one exporter per tenant would be 2 000 exporters with
their own disk queues for 1 000 tenants.  This process has no per-tenant configuration at all.

Which tenant a span or log record belongs to, first match wins:
  1. its resource's ``botwatch.tenant`` (the collector sets it from the bot's login and drops any
     tenant a bot writes itself, so a bot cannot claim another tenant);
  2. its own ``botwatch.tenant`` (the gateway serves many tenants from one process and names the
     tenant on each event's main span);
  3. the tenant of another span of the same trace in the same request (the gateway's trace is one
     tenant's conversation);
  4. with ``--tenants FILE``: the tenant whose conversation prefix (the gateway's
     ``conversation_prefix``, by default ``"<id>:"``) starts its ``gen_ai.conversation.id``, so the
     gateway's spans and records that travel without their event's main span still find their tenant.

Answers: 200 when every part was accepted; 503 (the collector retries the whole request from its
disk queue) when a backend is down or answered 429/5xx; 400 for a body that is not OTLP protobuf.
A retried request may deliver some tenants' parts twice (at least once, never lost).

    python -m botwatch.stack.tenant_splitter --port 4318 --tempo http://tempo:4318 --loki http://loki:3100 \
        --tenants deploy/tenants/tenants.toml
"""

from __future__ import annotations

import argparse
import gzip
import logging
import sys
import threading
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from botwatch import otlp_server, semconv
from botwatch.otlp_server import PROTOBUF
from botwatch.tenants import TENANT_ID, TenantsError, load

_logger = logging.getLogger("botwatch.tenant_splitter")
HEADER = "X-Scope-OrgID"
INTEGRATOR_ORG = "_integrator"
CONVERSATION_ID = semconv.GEN_AI_CONVERSATION_ID
TRACES_PATH = "/v1/traces"
LOGS_PATHS = ("/otlp/v1/logs", "/v1/logs")


def _tenant(attributes: Any) -> str | None:
    for kv in attributes:
        if kv.key == semconv.TENANT:
            value = kv.value.string_value
            return value if TENANT_ID.match(value) else None
    return None


class Prefixes:
    """Conversation id prefix -> tenant, from the tenants file (the gateway names conversations so)."""

    def __init__(self, prefixes: dict[str, str] | None = None) -> None:
        prefixes = prefixes or {}
        # "<id>:" (the default) is found by one dict lookup; other prefixes by a scan, longest first.
        self._colon = {p: t for p, t in prefixes.items() if p.endswith(":") and p.count(":") == 1}
        self._other = sorted(((p, t) for p, t in prefixes.items() if p not in self._colon), key=lambda i: -len(i[0]))

    @classmethod
    def from_file(cls, path: Path) -> Prefixes:
        tenants = load(path)  # validated as every other reader of the file does
        tables = {t.get("id"): t for t in tomllib.loads(path.read_text(encoding="utf-8")).get("tenants", [])}
        found = {}
        for tenant_id in tenants.ids:
            prefix = tables[tenant_id].get("conversation_prefix")
            prefix = f"{tenant_id}:" if prefix is None else str(prefix)
            if prefix:
                found[prefix] = tenant_id
        return cls(found)

    def tenant(self, attributes: Any) -> str | None:
        if not self._colon and not self._other:
            return None
        for kv in attributes:
            if kv.key == CONVERSATION_ID:
                conversation = kv.value.string_value
                head, colon, _ = conversation.partition(":")
                found = self._colon.get(head + colon) if colon else None
                if found is None:
                    found = next((t for p, t in self._other if conversation.startswith(p)), None)
                return found
        return None


NO_PREFIXES = Prefixes()


def _org(own: str | None, attributes: Any, trace_id: bytes, by_trace: dict[bytes, str], prefixes: Prefixes) -> str:
    return (
        own
        or _tenant(attributes)
        or (by_trace.get(trace_id) if trace_id else None)
        or prefixes.tenant(attributes)
        or INTEGRATOR_ORG
    )


class _Parts:
    """The per-org requests being built: a source resource and scope are copied once per org."""

    def __init__(self, factory: Callable[[], Any], resources: str, scopes: str) -> None:
        self.requests: dict[str, Any] = {}
        self._factory, self._resources, self._scopes = factory, resources, scopes
        self.fields = (resources, scopes)
        self._resource: dict[str, tuple[int, Any]] = {}
        self._scope: dict[str, tuple[int, Any]] = {}

    def whole(self, org: str, source_resource: Any) -> None:
        request = self.requests.get(org)
        if request is None:
            request = self.requests[org] = self._factory()
        getattr(request, self._resources).append(source_resource)
        self._resource.pop(org, None)
        self._scope.pop(org, None)

    def scope_for(self, org: str, source_resource: Any, source_scope: Any) -> Any:
        request = self.requests.get(org)
        if request is None:
            request = self.requests[org] = self._factory()
        held = self._resource.get(org)
        if held is None or held[0] != id(source_resource):
            out = getattr(request, self._resources).add(
                resource=source_resource.resource, schema_url=source_resource.schema_url
            )
            held = self._resource[org] = (id(source_resource), out)
            self._scope.pop(org, None)
        scope = self._scope.get(org)
        if scope is None or scope[0] != id(source_scope):
            out_scope = getattr(held[1], self._scopes).add(scope=source_scope.scope, schema_url=source_scope.schema_url)
            scope = self._scope[org] = (id(source_scope), out_scope)
        return scope[1]


def _split(request: Any, prefixes: Prefixes, parts: _Parts, items: str) -> dict[str, Any]:
    """org id -> that org's part of ``request``: a resource with a tenant moves whole, one copy; the items
    (spans or log records) of one without go each to its org, a tenantless one following its trace."""
    resources, scopes = parts.fields
    by_trace: dict[bytes, str] = {}
    for resource in getattr(request, resources):
        own = _tenant(resource.resource.attributes)
        for scope in getattr(resource, scopes):
            for item in getattr(scope, items):
                tenant = own or _tenant(item.attributes) or prefixes.tenant(item.attributes)
                if tenant and item.trace_id:
                    by_trace.setdefault(item.trace_id, tenant)
    for resource in getattr(request, resources):
        own = _tenant(resource.resource.attributes)
        if own:  # a bot's resource (the collector set it from the login): moved whole, one copy
            parts.whole(own, resource)
            continue
        for scope in getattr(resource, scopes):
            for item in getattr(scope, items):
                org = _org(own, item.attributes, item.trace_id, by_trace, prefixes)
                getattr(parts.scope_for(org, resource, scope), items).append(item)
    return parts.requests


def split_traces(
    request: ExportTraceServiceRequest, prefixes: Prefixes = NO_PREFIXES
) -> dict[str, ExportTraceServiceRequest]:
    """org id -> that org's part of ``request`` (resources and scopes copied, spans moved)."""
    return _split(request, prefixes, _Parts(ExportTraceServiceRequest, "resource_spans", "scope_spans"), "spans")


def split_logs(
    request: ExportLogsServiceRequest, prefixes: Prefixes = NO_PREFIXES
) -> dict[str, ExportLogsServiceRequest]:
    """org id -> that org's part of ``request``; a record without a tenant follows its trace."""
    return _split(request, prefixes, _Parts(ExportLogsServiceRequest, "resource_logs", "scope_logs"), "log_records")


@dataclass(frozen=True)
class Upstream:
    traces_url: str  # Tempo's OTLP/HTTP base, /v1/traces appended
    logs_url: str  # Loki's base, /otlp/v1/logs appended
    timeout: float = 10.0


class Splitter:
    def __init__(self, upstream: Upstream, prefixes: Prefixes = NO_PREFIXES) -> None:
        self.upstream = upstream
        self.prefixes = prefixes
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def handle(self, path: str, body: bytes) -> tuple[int, str]:
        try:
            if path == TRACES_PATH:
                parts: dict[str, Any] = split_traces(ExportTraceServiceRequest.FromString(body), self.prefixes)
                url = self.upstream.traces_url.rstrip("/") + TRACES_PATH
            elif path in LOGS_PATHS:
                parts = split_logs(ExportLogsServiceRequest.FromString(body), self.prefixes)
                url = self.upstream.logs_url.rstrip("/") + LOGS_PATHS[0]
            else:
                return 404, f"POST {TRACES_PATH} or {LOGS_PATHS[0]}"
        except Exception as error:  # noqa: BLE001 - protobuf's DecodeError (an untyped module) and its kin
            return 400, f"not an OTLP protobuf request: {error}"
        worst = (200, "")
        for org, part in sorted(parts.items()):
            status, reason = self._send(url, org, part.SerializeToString())
            with self._lock:
                self.counts[org] = self.counts.get(org, 0) + 1
            if status != 200 and (worst[0] == 200 or status == 503):
                worst = (status, f"{org}: {reason}")
        return worst

    def _send(self, url: str, org: str, data: bytes) -> tuple[int, str]:
        request = urllib.request.Request(
            url,
            data=gzip.compress(data, compresslevel=1),
            method="POST",
            headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip", HEADER: org},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.upstream.timeout) as response:
                response.read()
                return 200, ""
        except urllib.error.HTTPError as error:
            text = error.read()[:300].decode(errors="replace").strip()
            retry = error.code == 429 or error.code >= 500
            return (503 if retry else 400), f"{url} answered {error.code}: {text}"
        except (urllib.error.URLError, OSError) as error:
            return 503, f"{url} unreachable: {getattr(error, 'reason', error)}"


def serve(
    port: int,
    upstream: Upstream,
    host: str = "0.0.0.0",
    ready: Callable[[ThreadingHTTPServer], None] | None = None,
    prefixes: Prefixes = NO_PREFIXES,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``server.shutdown()``)."""
    splitter = Splitter(upstream, prefixes)
    detail = f"-> {upstream.traces_url}, {upstream.logs_url}"
    otlp_server.serve(splitter.handle, host, port, _logger, "tenant splitter", detail, ready=ready)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m botwatch.stack.tenant_splitter", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tempo", required=True, help="Tempo's OTLP/HTTP base URL, e.g. http://tempo:4318")
    parser.add_argument("--loki", required=True, help="Loki's base URL, e.g. http://loki:3100")
    parser.add_argument("--tenants", type=Path, default=None, help="tenants file: conversation prefixes (rule 4)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        prefixes = Prefixes.from_file(args.tenants) if args.tenants else NO_PREFIXES
    except (TenantsError, OSError, tomllib.TOMLDecodeError) as error:
        print(f"tenant splitter: {error}", file=sys.stderr)
        return 2
    serve(args.port, Upstream(args.tempo, args.loki), args.host, prefixes=prefixes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
