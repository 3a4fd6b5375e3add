"""The ASGI app: ``POST /v1/events``, health, readiness and the OpenAPI document.

Checks run cheapest first: token, body size, signature, JSON, batch size,
rate limit, then each event on its own (a bad event is refused with a reason,
the good ones of the batch are kept), then event ids against the idempotency
store, then the SDK.  The gateway's own log lines carry tenant ids, counts
and reason codes, never a body, a phone, a name or a token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from botwatch import semconv
from botwatch.crm.bitrix24 import Bitrix24
from botwatch.gateway import auth
from botwatch.gateway.event_mapping import Placement, needs_lead, recorded
from botwatch.gateway.events import BatchResponse, Event, EventResult, Reason, check
from botwatch.gateway.gateway_config import GatewayConfig, Tenant
from botwatch.gateway.idempotency import RedisStore, Store, StoreUnavailable
from botwatch.gateway.leads import LeadJobs
from botwatch.gateway.metrics import GatewayMetrics
from botwatch.gateway.openapi import openapi_document
from botwatch.gateway.record_queue import Recorder
from botwatch.gateway.sqlite_store import SqliteStore
from botwatch.telemetry import current
from botwatch.validation import printable

_log = logging.getLogger("botwatch.gateway")

EVENTS_PATH = "/v1/events"
CLOSE_SECONDS = 15.0  # at shutdown: recording what was accepted, finishing lead jobs
ROUTES = frozenset({EVENTS_PATH, "/health/live", "/health/ready", "/openapi.json"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class Accepted:
    """An accepted event waiting for the recorder."""

    event: Event
    where: Placement
    lead_refused: bool = False  # a lead the gateway should have created but had no room for


class Refused(Exception):
    """The whole request is refused: status, reason code, message (and maybe Retry-After)."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.retry_after = status, reason, message, retry_after

    def response(self) -> Response:
        headers = {"Retry-After": str(max(1, math.ceil(self.retry_after)))} if self.retry_after else None
        return JSONResponse({"error": self.reason, "message": self.message}, self.status, headers=headers)


def make_store(config: GatewayConfig) -> Store:
    if config.redis_url:
        return RedisStore(config.redis_url, ttl=config.idempotency_ttl, conversation_ttl=config.conversation_ttl)
    return SqliteStore(
        config.state_path or ":memory:",
        ttl=config.idempotency_ttl,
        conversation_ttl=config.conversation_ttl,
        per_tenant=config.ids_per_tenant,
    )


class Gateway:
    def __init__(self, config: GatewayConfig, store: Store | None = None) -> None:
        self.config = config
        self.tenants = auth.Tenants(config.tenants)
        self.store = store or make_store(config)
        self.crm = {
            t.id: Bitrix24(t.bitrix24.webhook_url, rate=t.bitrix24.rate)
            for t in config.tenants
            if t.bitrix24 and t.bitrix24.create_leads
        }
        self.jobs = LeadJobs(config.max_lead_jobs, config.grafana_url, config.tempo_datasource)
        self.recorder: Recorder[Accepted] = Recorder(self._record_accepted, lambda: current().backlog())
        self.closing = False
        self._metrics: GatewayMetrics | None = None
        self._metrics_owner: object = None

    @property
    def metrics(self) -> GatewayMetrics:
        telemetry = current()
        if self._metrics_owner is not telemetry:  # botwatch.init() may run again (tests)
            self._metrics, self._metrics_owner = GatewayMetrics(telemetry), telemetry
        assert self._metrics is not None
        return self._metrics

    async def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Record every accepted event and finish the lead jobs, in ``timeout`` seconds at most."""
        self.closing = True
        deadline = time.monotonic() + timeout
        if not await self.recorder.join(timeout):
            _log.error("shutdown: %d accepted events were not recorded in %.0f s", self.recorder.pending, timeout)
        await self.jobs.drain(max(0.1, deadline - time.monotonic()))
        for client in self.crm.values():
            await client.aclose()
        await self.store.close()

    # -- POST /v1/events ---------------------------------------------------
    async def post_events(self, request: Request) -> Response:
        tenant = self.tenants.from_headers(request.headers)
        if tenant is None:
            _log.info("refused a request: no valid token")
            return Refused(401, "unauthorized", "send Authorization: Bearer <tenant token>").response()
        try:
            return await self._accept(tenant, request)
        except ClientDisconnect:
            # Nothing was claimed: the sender gets no answer and may send it again.
            _log.info("tenant %s: the client went away before its whole body arrived", tenant.id)
            return Refused(400, "client_disconnected", "the body did not arrive in full").response()
        except Refused as refused:
            _log.info("refused a request of tenant %s: %s", tenant.id, refused.reason)
            return refused.response()

    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        too_large = Refused(413, "body_too_large", f"the body must be at most {limit} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _events_of(self, body: bytes) -> list[Any]:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise Refused(400, "malformed_json", "the body is not valid JSON (UTF-8)") from None
        if isinstance(payload, dict) and "events" in payload:
            payload = payload["events"]
            if not isinstance(payload, list):
                raise Refused(400, "not_a_batch", '"events" must be a list of events')
        elif isinstance(payload, dict):
            payload = [payload]
        elif not isinstance(payload, list):
            raise Refused(400, "not_a_batch", 'send one event (an object), a list of them, or {"events": [...]}')
        if not payload:
            raise Refused(400, "empty_batch", "the batch has no events")
        if len(payload) > self.config.max_batch:
            raise Refused(413, "batch_too_large", f"at most {self.config.max_batch} events per request")
        return payload

    async def _accept(self, tenant: Tenant, request: Request) -> Response:
        body = await self._read_body(request)
        if tenant.signing_secret is not None:
            problem = auth.verify(tenant.signing_secret, request.headers, body, window=self.config.signature_window)
            if problem:
                raise Refused(401, problem, "sign the body: X-Botwatch-Timestamp and X-Botwatch-Signature")
        raws = self._events_of(body)
        try:
            wait = await self.store.take_tokens(tenant.id, len(raws), tenant.rate, tenant.burst)
        except StoreUnavailable as exc:
            raise _store_unavailable(exc) from None
        if wait < 0:
            raise Refused(413, "batch_too_large", "the batch is larger than the tenant's burst limit")
        if wait > 0:
            self.metrics.events(tenant.id, Counter({(semconv.GATEWAY_REJECTED, "rate_limited"): len(raws)}))
            raise Refused(429, "rate_limited", "too many events for this token; retry later", retry_after=wait)
        await self._wait_for_export(tenant, len(raws))
        results = await self._process(tenant, raws)
        outcomes: Counter[tuple[str, str]] = Counter((str(r.status), r.reason or "") for r in results)
        self.metrics.events(tenant.id, outcomes)
        response = BatchResponse(
            accepted=outcomes_of(outcomes, semconv.GATEWAY_ACCEPTED),
            duplicates=outcomes_of(outcomes, semconv.GATEWAY_DUPLICATE),
            rejected=outcomes_of(outcomes, semconv.GATEWAY_REJECTED),
            results=results,
        )
        status = 422 if response.rejected == len(results) else 200
        _log.debug(
            "tenant %s: %d accepted, %d duplicates, %d rejected",
            tenant.id,
            response.accepted,
            response.duplicates,
            response.rejected,
        )
        return Response(response.model_dump_json(exclude_none=True), status, media_type="application/json")

    async def _wait_for_export(self, tenant: Tenant, events: int) -> None:
        """Back-pressure: record nothing more while the export queues are behind.

        Past the high-water mark the SDK's queues would soon drop what the
        gateway acknowledged; waiting here (the event loop is free, so the
        export threads run) slows the senders down to what the collector link
        carries, and a request that waited too long is refused with 503 before
        any of its event ids is claimed, so its retry is not a duplicate.
        """
        telemetry = current()
        high, most = self.config.export_backlog, self.config.max_pending_events

        def behind() -> bool:
            return self.recorder.pending >= most or telemetry.backlog() >= high

        if not behind():
            return
        deadline = time.monotonic() + self.config.export_wait
        while behind():
            if time.monotonic() >= deadline:
                self.metrics.events(tenant.id, Counter({(semconv.GATEWAY_REJECTED, "export_backlog"): events}))
                raise Refused(
                    503, "export_backlog", "the gateway's export to the collector is behind; retry", retry_after=1
                )
            await asyncio.sleep(0.02)  # a held request rechecks 50 times a second

    async def _process(self, tenant: Tenant, raws: list[Any]) -> list[EventResult]:
        config = self.config
        telemetry = current()
        now = time.time()
        results: list[EventResult | None] = [None] * len(raws)
        valid: list[tuple[int, Event]] = []
        for index, raw in enumerate(raws):
            checked = check(
                raw,
                now=now,
                max_future=config.max_future,
                max_age=config.max_age,
                prefix=tenant.prefix,
                redactor=telemetry.redactor,
            )
            if isinstance(checked, Event):
                valid.append((index, checked))
            else:
                reason, message = checked
                results[index] = _rejected(index, raw, reason, message)
        pairs = [(event.event_id, tenant.prefix + event.session_id) for _, event in valid]
        try:
            claimed = await self.store.claim_and_count(tenant.id, pairs) if pairs else []
        except StoreUnavailable as exc:
            raise _store_unavailable(exc) from None
        new = [(i, e) for (i, e), number in zip(valid, claimed, strict=True) if number]
        numbers = [number for number in claimed if number]
        for (index, event), number in zip(valid, claimed, strict=True):
            if not number:
                trace = telemetry.trace_id(tenant.prefix + event.session_id)
                results[index] = EventResult(index=index, event_id=event.event_id, status="duplicate", trace_id=trace)
        queued: list[Accepted] = []
        for (index, event), number in zip(new, numbers, strict=True):
            where = Placement(tenant.id, tenant.prefix + event.session_id, number)
            results[index] = self._place(tenant, index, event, where, queued)
        self.recorder.submit(queued)
        return [r for r in results if r is not None]

    def _place(
        self,
        tenant: Tenant,
        index: int,
        event: Event,
        where: Placement,
        queued: list[Accepted],
    ) -> EventResult:
        """The event's answer; its recording goes to the recorder (or a lead job)."""
        trace = current().trace_id(where.conversation_id)
        accepted = EventResult(index=index, event_id=event.event_id, status="accepted", trace_id=trace)
        crm = self.crm.get(tenant.id)
        wants_lead = crm is not None and needs_lead(event)
        if crm is not None and wants_lead and self.jobs.has_room() and not self.closing:
            self.jobs.submit(crm, event, where)
            accepted.lead = "pending"
            return accepted
        queued.append(Accepted(event, where, lead_refused=wants_lead))
        return accepted

    async def _record_accepted(self, item: Accepted) -> None:
        try:
            with recorded(item.event, item.where) as turn:
                if item.lead_refused and turn is not None:
                    # The tenant wants leads, but the lead jobs are full (or the gateway is stopping).
                    with turn.crm(semconv.CRM_ACTION_LEAD_CREATE, system=semconv.CRM_SYSTEM_BITRIX24) as action:
                        action.fail("gateway_overloaded")
        except Exception as exc:  # noqa: BLE001 - one event's failure must not stop the others
            # Acknowledged but not recorded: forget its id, so a redelivery is recorded.
            await self.store.release_events(item.where.tenant, [item.event.event_id])
            self.metrics.events(item.where.tenant, Counter({(semconv.GATEWAY_REJECTED, "record_failed"): 1}))
            _log.error("recording an event of tenant %s failed: %s", item.where.tenant, type(exc).__name__)

    # -- the rest ------------------------------------------------------------
    async def live(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        checks = {"store": await self.store.ping(), "accepting": not self.closing}
        ok = all(checks.values())
        body = {
            "status": "ready" if ok else "not_ready",
            "checks": checks,
            # How far behind recording and export are (the back-pressure inputs).
            "pending_events": self.recorder.pending,
            "export_backlog": round(current().backlog(), 3),
        }
        return JSONResponse(body, 200 if ok else 503)

    async def openapi(self, request: Request) -> Response:
        return Response(openapi_bytes(), media_type="application/json")


def _store_unavailable(exc: StoreUnavailable) -> Refused:
    _log.warning("idempotency store unavailable (%s)", exc)
    return Refused(503, "store_unavailable", "the gateway cannot check event ids or rates now; retry", retry_after=1)


def outcomes_of(outcomes: Counter[tuple[str, str]], status: str) -> int:
    return sum(n for (s, _), n in outcomes.items() if s == status)


def _rejected(index: int, raw: Any, reason: Reason, message: str) -> EventResult:
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    # Shown escaped: a lone surrogate would make the whole answer unserialisable.
    shown = printable(event_id) if isinstance(event_id, str) and 0 < len(event_id) <= 128 else None
    return EventResult(index=index, event_id=shown, status="rejected", reason=reason.value, message=message)


_OPENAPI: bytes | None = None


def openapi_bytes() -> bytes:
    global _OPENAPI
    if _OPENAPI is None:
        _OPENAPI = (json.dumps(openapi_document(), ensure_ascii=False, indent=2) + "\n").encode()
    return _OPENAPI


class RequestMetrics:
    """Pure ASGI wrapper timing every HTTP request (``http.server.request.duration``)."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app, self.gateway = app, gateway

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope["path"] if scope["path"] in ROUTES else None  # no http.route when nothing matched
            self.gateway.metrics.asgi_request(scope, route, status, time.perf_counter() - started)


def create_app(
    config: GatewayConfig, *, store: Store | None = None, after_close: Callable[[], None] | None = None
) -> RequestMetrics:
    """The gateway's ASGI app; ``after_close`` runs (in a thread) once its shutdown recorded everything.

    ``botwatch gateway`` passes ``botwatch.shutdown``: the exporters are flushed before
    the server exits, whatever it does with the signal that stopped it.
    """
    gateway = Gateway(config, store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway.closing = False
        yield
        await gateway.close()
        if after_close is not None:
            await asyncio.to_thread(after_close)

    app = Starlette(
        routes=[
            Route(EVENTS_PATH, gateway.post_events, methods=["POST"]),
            Route("/health/live", gateway.live, methods=["GET"]),
            Route("/health/ready", gateway.ready, methods=["GET"]),
            Route("/openapi.json", gateway.openapi, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    wrapped = RequestMetrics(app, gateway)
    wrapped.gateway = gateway
    return wrapped
