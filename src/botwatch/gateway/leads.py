"""Leads the gateway creates in Bitrix24 for ``create_lead`` events that came without a ``crm_id``.

The event is answered at once (``"lead": "pending"``); the event's turn is
recorded in a background task that keeps it open while the client searches
duplicates by phone and creates the lead (or comments the existing one), so
those calls are ``crm.*`` spans of the turn.  A portal that is down gives an
error span and metric; the event's own telemetry is recorded all the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import quote

from botwatch import semconv
from botwatch.crm.bitrix24 import Bitrix24
from botwatch.gateway.event_mapping import Placement, recorded
from botwatch.gateway.events import Event

_log = logging.getLogger("botwatch.gateway")


def trace_url(grafana_url: str | None, trace_id: str, datasource: str = "tempo") -> str | None:
    """Grafana Explore showing this trace in the Tempo data source."""
    if not grafana_url:
        return None
    panes = {
        "t": {
            "datasource": datasource,
            "queries": [
                {
                    "refId": "A",
                    "datasource": {"type": "tempo", "uid": datasource},
                    "queryType": "traceql",
                    "query": trace_id,
                }
            ],
            "range": {"from": "now-30d", "to": "now"},
        }
    }
    encoded = quote(json.dumps(panes, separators=(",", ":")), safe="")
    return f"{grafana_url.rstrip('/')}/explore?schemaVersion=1&panes={encoded}"


class LeadJobs:
    """Bounded background work; ``drain`` waits for it at shutdown."""

    def __init__(self, limit: int, grafana_url: str | None, datasource: str) -> None:
        self.limit = limit
        self.grafana_url = grafana_url
        self.datasource = datasource
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def has_room(self) -> bool:
        return len(self._tasks) < self.limit

    def submit(self, client: Bitrix24, event: Event, where: Placement) -> None:
        task = asyncio.get_running_loop().create_task(self._run(client, event, where))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, client: Bitrix24, event: Event, where: Placement) -> None:
        try:
            with recorded(event, where) as turn:
                assert turn is not None
                url = trace_url(self.grafana_url, turn.conversation.trace_id, self.datasource)
                client_info = event.client
                result = await client.create_lead(
                    turn,
                    conversation_id=where.conversation_id,
                    trace_url=url,
                    phone=client_info.phone if client_info else None,
                    name=client_info.name if client_info else None,
                    title=f"Заявка из чат-бота ({event.channel})"[:255],
                )
                if result.created:
                    turn.funnel(semconv.LEAD_CREATED)
            _log.info(
                "lead for tenant %s: %s", where.tenant, "created" if result.created else result.error or "existing"
            )
        except Exception:  # noqa: BLE001 - a background task must not die silently
            _log.exception("lead job for tenant %s failed", where.tenant)

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
