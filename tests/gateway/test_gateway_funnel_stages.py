"""The seeds' critical events through the gateway: ``rescheduled`` and ``complaint`` reach the journal's KPIs.

A CRM or a no-code bot reports them as ``funnel_stage``; ``botwatch kpi`` and the owner's report count them
(``rescheduled``, ``complaints``) from the journal the gateway records into.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from gateway_support import client_of, config, example_event, post_plain

import botwatch
from botwatch.gateway import create_app
from botwatch.journal import Journal


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    path = tmp_path / "journal.sqlite"
    botwatch.init(service_name="salon-gateway", journal=path, secret="funnel-secret-0123456789")
    yield path
    botwatch.shutdown()


def stage(event_id: str, session: str, name: str) -> dict[str, object]:
    event = example_event(event_id=event_id, session_id=session, funnel_stage=name, intent=None, bot_response=None)
    for field in ("action", "crm_id", "client"):
        event.pop(field)
    return event


async def test_rescheduled_and_complaint_stages_are_counted_by_kpi(journal):
    events = [
        example_event(event_id="t1", session_id="sess_one", action=None, crm_id=None),
        stage("s1", "sess_one", "rescheduled"),
        stage("s2", "sess_two", "rescheduled"),
        stage("s3", "sess_two", "complaint"),
        stage("s4", "sess_two", "cancelled"),
    ]
    async with client_of(create_app(config())) as client:
        response = await post_plain(client, {"events": events})
    assert response.json()["accepted"] == len(events), response.text
    botwatch.flush()
    with Journal(journal) as recorded:
        kpi = recorded.kpi(timedelta(hours=1))
    assert (kpi.rescheduled, kpi.complaints) == (2, 1)
