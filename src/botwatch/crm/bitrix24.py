"""Bitrix24 over its incoming-webhook REST API: ``https://<portal>/rest/<user>/<token>/<method>.json``.

Every call is one ``crm.*`` span (through ``turn.crm``) whose outcome is the
call's final outcome: a ``QUERY_LIMIT_EXCEEDED`` answered by a retry that
succeeds is one successful span carrying a ``botwatch.crm.retry`` event per failed
attempt and ``botwatch.crm.attempts``, so the lead-failure alert counts leads
that were really lost, not the portal's throttling.

The portal allows about two requests a second (a leaky bucket); the client
keeps to a token bucket of its own, and on ``QUERY_LIMIT_EXCEEDED`` backs off
exponentially with jitter, pausing every caller of the same client.  A write
(``crm.lead.add``) is retried only when the portal certainly did not do it
(throttled, or the connection never opened), so a retry never makes two leads.

The webhook URL holds a secret token: it is never logged or exported; the
spans carry only the portal's host and port (``server.address``, ``server.port``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from botwatch import semconv
from botwatch.conversation import CRMAction, Turn
from botwatch.masking.logfilter import hide_secrets_in_http_logs
from botwatch.peer import server_of_url
from botwatch.pii import phone_digits

QUERY_LIMIT_EXCEEDED = "QUERY_LIMIT_EXCEEDED"
_THROTTLED_STATUSES = frozenset({429, 503})  # refused before any work was done
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Bitrix24Error(Exception):
    """A failed call: the portal's error code (``QUERY_LIMIT_EXCEEDED``, ``NO_AUTH_FOUND``...),
    ``HTTP_<status>`` for an answer that is not Bitrix24's JSON, or the transport error's name."""

    def __init__(self, code: str, description: str = "", *, status: int | None = None, processed: bool = True):
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code[:64] or "UNKNOWN"
        self.description = description
        self.status = status
        self.transient = code == QUERY_LIMIT_EXCEEDED or status in _TRANSIENT_STATUSES or not processed
        # False only when the portal certainly did nothing, so even a write may be sent again.
        self.maybe_processed = processed and code != QUERY_LIMIT_EXCEEDED and status not in _THROTTLED_STATUSES


def decode(response: httpx.Response) -> Any:
    """The ``result`` of a Bitrix24 answer, or :class:`Bitrix24Error`."""
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        raise Bitrix24Error(str(payload["error"]), str(payload.get("error_description", "")), status=status)
    if status >= 400 or not isinstance(payload, dict) or "result" not in payload:
        raise Bitrix24Error(f"HTTP_{status}" if status >= 400 else "BAD_RESPONSE", status=status)
    return payload["result"]


class TokenBucket:
    """At most ``rate`` calls a second on average, ``burst`` at once; ``pause`` empties it for a while."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def pause(self, seconds: float) -> None:
        now = self._clock()
        self._refill(now)
        self._tokens = 0.0
        self._paused_until = max(self._paused_until, now + seconds)

    async def acquire(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        async with self._lock:  # callers are served in order
            while True:
                now = self._clock()
                self._refill(now)
                wait = self._paused_until - now
                if wait <= 0 and self._tokens >= 1:
                    self._tokens -= 1
                    return
                await sleep(max(wait, (1 - self._tokens) / self.rate, 0.001))


@dataclass(frozen=True)
class LeadResult:
    """What :meth:`Bitrix24.create_lead` did: a new lead, the existing one it commented, or an error code."""

    lead_id: int | None
    created: bool
    error: str | None = None


class Bitrix24:
    """A client for one portal's incoming webhook."""

    def __init__(
        self,
        webhook_url: str,
        *,
        http: httpx.AsyncClient | None = None,
        rate: float = 2.0,
        burst: int = 10,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        timeout: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not webhook_url.startswith(("http://", "https://")):
            raise ValueError("the Bitrix24 webhook URL must start with https:// (or http:// for a local test portal)")
        self._base = webhook_url.rstrip("/") + "/"
        hide_secrets_in_http_logs()  # httpx logs every request URL at INFO, token included
        self._host, self._port = server_of_url(webhook_url)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self.limiter = TokenBucket(rate, burst, clock)
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep

    def __repr__(self) -> str:  # the URL carries the webhook's secret token
        return "Bitrix24(<webhook>)"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- one REST method ---------------------------------------------------
    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        idempotent: bool = True,
        span: CRMAction | None = None,
    ) -> Any:
        """POST ``<method>.json``; retries throttling and transient failures with backoff."""
        attempt = 0
        while True:
            attempt += 1
            if span is not None:
                span.span.set_attribute(semconv.CRM_ATTEMPTS, attempt)
            await self.limiter.acquire(self._sleep)
            response: httpx.Response | None = None
            try:
                response = await self._http.post(f"{self._base}{method}.json", json=params or {})
                return decode(response)
            except httpx.TransportError as exc:
                error = Bitrix24Error(type(exc).__name__, processed=not isinstance(exc, _NOT_SENT))
                retry_after = None
            except Bitrix24Error as exc:
                error = exc
                retry_after = _retry_after(response)
            may_retry = error.transient and (idempotent or not error.maybe_processed)
            if attempt >= self.max_attempts or not may_retry:
                raise error
            delay = retry_after or min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * (
                0.5 + random.random() / 2
            )
            if error.code == QUERY_LIMIT_EXCEEDED:
                self.limiter.pause(delay)
            if span is not None:
                span.span.add_event(
                    semconv.EVENT_CRM_RETRY, {semconv.ERROR_TYPE: error.code, semconv.CRM_ATTEMPTS: attempt}
                )
            await self._sleep(delay)

    async def _traced(
        self, turn: Turn | None, action: str, method: str, params: dict[str, Any], *, idempotent: bool
    ) -> Any:
        if turn is None:
            return await self.call(method, params, idempotent=idempotent)
        failure: Bitrix24Error | None = None
        result: Any = None
        crm = turn.crm(action, system=semconv.CRM_SYSTEM_BITRIX24, server_address=self._host, server_port=self._port)
        with crm as span:
            try:
                result = await self.call(method, params, idempotent=idempotent, span=span)
            except Bitrix24Error as exc:
                span.fail(exc.code)
                failure = exc
            else:
                if isinstance(result, int | str) and not isinstance(result, bool):
                    span.entity_id = result
        if failure is not None:
            raise failure
        return result

    # -- the methods botwatch uses ----------------------------------------
    async def find_leads_by_phone(self, phone: str, *, turn: Turn | None = None) -> list[int]:
        """Ids of leads with this phone (``crm.duplicate.findbycomm``)."""
        params = {"entity_type": "LEAD", "type": "PHONE", "values": [bitrix_phone(phone)]}
        result = await self._traced(
            turn, semconv.CRM_ACTION_DUPLICATE_FIND, "crm.duplicate.findbycomm", params, idempotent=True
        )
        leads = result.get("LEAD", []) if isinstance(result, dict) else []
        return sorted(int(x) for x in leads if str(x).isdigit())

    async def add_lead(self, fields: dict[str, Any], *, turn: Turn | None = None) -> int:
        params = {"fields": fields, "params": {"REGISTER_SONET_EVENT": "Y"}}
        result = await self._traced(turn, semconv.CRM_ACTION_LEAD_CREATE, "crm.lead.add", params, idempotent=False)
        return int(result)

    async def add_comment(
        self, entity_id: int, comment: str, *, entity_type: str = "lead", turn: Turn | None = None
    ) -> int:
        params = {"fields": {"ENTITY_ID": entity_id, "ENTITY_TYPE": entity_type, "COMMENT": comment}}
        result = await self._traced(
            turn, semconv.CRM_ACTION_COMMENT_ADD, "crm.timeline.comment.add", params, idempotent=False
        )
        return int(result)

    async def create_lead(
        self,
        turn: Turn | None,
        *,
        conversation_id: str,
        trace_url: str | None = None,
        phone: str | None = None,
        name: str | None = None,
        title: str = "Заявка от чат-бота",
    ) -> LeadResult:
        """A lead for this conversation, unless one with the same phone exists: then a comment on it.

        The lead carries the conversation id (``ORIGIN_ID``) and the link to the
        trace; a failed duplicate search does not stop the lead (a duplicate is
        better than a lost client).  Errors are returned, not raised: the span
        already says what went wrong.
        """
        note = "\n".join(
            line for line in (f"Разговор: {conversation_id}", trace_url and f"Трасса: {trace_url}") if line
        )
        existing: list[int] = []
        if phone:
            try:
                existing = await self.find_leads_by_phone(phone, turn=turn)
            except Bitrix24Error:
                existing = []
        try:
            if existing:
                lead = existing[-1]
                await self.add_comment(lead, note, turn=turn)
                return LeadResult(lead, created=False)
            fields: dict[str, Any] = {
                "TITLE": title,
                "SOURCE_ID": "OTHER",
                "SOURCE_DESCRIPTION": f"botwatch: {conversation_id}",
                "ORIGINATOR_ID": "botwatch",
                "ORIGIN_ID": conversation_id,
                "COMMENTS": note,
            }
            if name:
                fields["NAME"] = name
            if phone:
                fields["PHONE"] = [{"VALUE": bitrix_phone(phone), "VALUE_TYPE": "WORK"}]
            return LeadResult(await self.add_lead(fields, turn=turn), created=True)
        except Bitrix24Error as exc:
            return LeadResult(existing[-1] if existing else None, created=False, error=exc.code)


def bitrix_phone(phone: str) -> str:
    """``8 (912) 345-67-89`` -> ``+79123456789``, the form duplicate search matches."""
    return "+" + phone_digits(phone)


def _retry_after(response: httpx.Response | None) -> float | None:
    raw = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(float(raw), 60.0) if raw else None
    except ValueError:
        return None
