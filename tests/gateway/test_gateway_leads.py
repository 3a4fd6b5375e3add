"""The gateway creates Bitrix24 leads for ``create_lead`` events without a ``crm_id`` (opt-in per tenant)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from bitrix24_api import FakePortal, closed_port_url, fast_client
from gateway_support import SIGNED_TOKEN, SIGNING_SECRET, client_of, config, example_event, post_signed

import botwatch
from botwatch import semconv
from botwatch.gateway import Tenant, create_app
from botwatch.gateway.gateway_config import Bitrix24Settings

GRAFANA = "https://grafana.salon.local"


@pytest.fixture
def portal():
    server = FakePortal()
    yield server
    server.close()


def lead_app(url: str):
    tenant = Tenant(
        "salon", SIGNED_TOKEN, signing_secret=SIGNING_SECRET, bitrix24=Bitrix24Settings(url, create_leads=True)
    )
    app = create_app(config(tenants=(tenant,), grafana_url=GRAFANA))
    app.gateway.crm["salon"] = fast_client(url, max_attempts=3)  # backoff recorded, not waited
    return app


async def test_lead_is_created_with_the_trace_link_and_its_spans_join_the_turn(bw, receiver, portal):
    app = lead_app(portal.url)
    async with client_of(app) as client:
        response = await post_signed(client, example_event(crm_id=None))
        result = response.json()["results"][0]
        assert result["status"] == "accepted" and result["lead"] == "pending"
        await app.gateway.jobs.drain(10)
    [lead] = portal.leads.values()
    trace_id = result["trace_id"]
    assert lead["ORIGIN_ID"] == "salon:sess_abc123"
    assert lead["NAME"] == "Иван" and lead["PHONE"][0]["VALUE"] == "+79123456789"
    assert GRAFANA + "/explore?" in lead["COMMENTS"] and trace_id in unquote(lead["COMMENTS"])
    botwatch.flush()
    spans = [s for s in receiver.spans() if s["trace_id"] == trace_id]
    turn = next(s for s in spans if s["name"] == "turn")
    crm = {s["name"]: s for s in spans if s["name"].startswith("crm.")}
    assert set(crm) == {"crm.duplicate.find", "crm.lead.create"}
    assert all(s["parent_id"] == turn["span_id"] for s in crm.values())
    assert crm["crm.lead.create"]["attributes"][semconv.CRM_OUTCOME] == "success"
    assert (semconv.funnel_event_name("lead_created"), {semconv.FUNNEL_STAGE: "lead_created"}) in turn["events"]
    assert b"79123456789" not in b"".join(receiver.raw)


async def test_second_conversation_of_a_known_client_comments_the_existing_lead(bw, receiver, portal):
    existing = portal.add_lead("+79123456789")
    app = lead_app(portal.url)
    async with client_of(app) as client:
        await post_signed(client, example_event(crm_id=None))
        await app.gateway.jobs.drain(10)
    assert list(portal.leads) == [existing]
    assert portal.comments[0]["ENTITY_ID"] == existing


async def test_portal_down_error_span_and_metric_and_the_event_is_still_recorded(bw, receiver):
    app = lead_app(closed_port_url())
    async with client_of(app) as client:
        response = await post_signed(client, example_event(crm_id=None))
        await app.gateway.jobs.drain(10)
    assert response.status_code == 200
    trace_id = response.json()["results"][0]["trace_id"]
    botwatch.flush()
    spans = {s["name"]: s for s in receiver.spans() if s["trace_id"] == trace_id}
    assert {"conversation", "turn", "crm.duplicate.find", "crm.lead.create"} <= set(spans)
    lead = spans["crm.lead.create"]
    assert lead["attributes"][semconv.CRM_OUTCOME] == "error"
    assert lead["attributes"][semconv.ERROR_TYPE] == "ConnectError"
    assert spans["turn"]["attributes"][semconv.INTENT] == "запись_на_приём"
    replied = [r for r in receiver.logs() if r["event_name"] == semconv.EVENT_BOT_REPLIED]
    assert replied and replied[0]["trace_id"] == trace_id
    failures = [
        {kv.key: kv.value.string_value for kv in p.attributes}
        for metric, _ in receiver.metrics()
        if metric.name == semconv.CRM_ACTIONS.name
        for p in metric.sum.data_points
    ]
    assert {
        semconv.CRM_SYSTEM: "bitrix24",
        semconv.TENANT: "salon",  # metrics carry the tenant (its own label budget)
        semconv.CRM_ACTION: "lead.create",
        semconv.CRM_OUTCOME: "error",
        semconv.ERROR_TYPE: "ConnectError",
    } in failures


async def test_tenants_without_the_opt_in_create_no_lead(bw, receiver, portal):
    async with client_of(create_app(config())) as client:
        response = await post_signed(client, example_event(crm_id=None))
    assert "lead" not in response.json()["results"][0]
    assert portal.calls == []


async def test_shutdown_waits_for_pending_leads(bw, portal):
    app = lead_app(portal.url)
    async with client_of(app) as client:
        for i in range(3):
            await post_signed(
                client,
                example_event(event_id=f"l{i}", session_id=f"s{i}", crm_id=None, client={"phone": f"+7912345670{i}"}),
            )
    # client_of closed the gateway, which drained the jobs
    assert len(portal.leads) == 3
