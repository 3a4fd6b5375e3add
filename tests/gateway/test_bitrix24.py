"""The Bitrix24 client against a local server speaking Bitrix24's REST shapes (tests/bitrix24_api.py)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from bitrix24_api import TOKEN, FakePortal, Sleeps, closed_port_url, fast_client

import botwatch
from botwatch import semconv
from botwatch.crm.bitrix24 import Bitrix24, Bitrix24Error, TokenBucket, bitrix_phone, decode


@pytest.fixture
def portal():
    server = FakePortal()
    yield server
    server.close()


def crm_spans(receiver: Any) -> list[dict[str, Any]]:
    return [s for s in receiver.spans() if s["name"].startswith("crm.")]


async def _create(client: Bitrix24, phone: str | None = "8 (912) 345-67-89") -> Any:
    async with botwatch.conversation("sess_bx", channel="whatsapp") as conv:
        async with conv.turn("Хочу записаться") as turn:
            return await client.create_lead(
                turn,
                conversation_id=conv.id,
                trace_url=f"https://grafana.local/trace/{conv.trace_id}",
                phone=phone,
                name="Иван",
            ), conv


async def test_new_client_gets_a_lead_with_conversation_id_and_trace_link(bw, receiver, portal):
    client = fast_client(portal.url)
    result, conv = await _create(client)
    await client.aclose()
    assert result.created and result.error is None
    assert portal.methods() == ["crm.duplicate.findbycomm", "crm.lead.add"]
    assert portal.calls[0][1] == {"entity_type": "LEAD", "type": "PHONE", "values": ["+79123456789"]}
    lead = portal.leads[result.lead_id]
    assert lead["ORIGIN_ID"] == "sess_bx" and lead["NAME"] == "Иван"
    assert lead["PHONE"] == [{"VALUE": "+79123456789", "VALUE_TYPE": "WORK"}]
    assert f"https://grafana.local/trace/{conv.trace_id}" in lead["COMMENTS"] and "sess_bx" in lead["COMMENTS"]
    botwatch.flush()
    spans = {s["name"]: s for s in crm_spans(receiver)}
    assert set(spans) == {"crm.duplicate.find", "crm.lead.create"}
    created = spans["crm.lead.create"]
    assert created["trace_id"] == conv.trace_id
    assert created["attributes"][semconv.CRM_ENTITY_ID] == str(result.lead_id)
    assert created["attributes"][semconv.CRM_OUTCOME] == "success"
    assert created["attributes"][semconv.CRM_SYSTEM] == "bitrix24"
    assert b"79123456789" not in b"".join(receiver.raw)


async def test_known_phone_gets_a_timeline_comment_not_a_second_lead(bw, receiver, portal):
    existing = portal.add_lead("+79123456789")
    client = fast_client(portal.url)
    result, conv = await _create(client, phone="+7 912 345-67-89")
    await client.aclose()
    assert (result.lead_id, result.created) == (existing, False)
    assert len(portal.leads) == 1
    assert portal.methods() == ["crm.duplicate.findbycomm", "crm.timeline.comment.add"]
    assert portal.comments[0]["ENTITY_ID"] == existing and portal.comments[0]["ENTITY_TYPE"] == "lead"
    assert conv.trace_id in portal.comments[0]["COMMENT"]
    botwatch.flush()
    names = sorted(s["name"] for s in crm_spans(receiver))
    assert names == ["crm.duplicate.find", "crm.timeline.comment.add"]


async def test_query_limit_exceeded_backs_off_and_the_span_succeeds_with_its_attempts(bw, receiver, portal):
    portal.throttle = 3
    sleeps = Sleeps()
    # A fast portal rate: after a pause the token bucket refills during the backoff itself,
    # so every recorded wait of 0.2 s or more is a backoff (at 2/s a short, jittered
    # backoff could leave a 0.2 s rate wait behind it).
    client = fast_client(portal.url, sleeps=sleeps, backoff=0.5, rate=1000.0)
    result, _ = await _create(client, phone=None)
    await client.aclose()
    assert result.created
    assert portal.methods() == ["crm.lead.add"] * 4
    backoff = [w for w in sleeps.waits if w >= 0.2]
    assert len(backoff) == 3 and backoff[0] < backoff[1] < backoff[2]  # exponential (with jitter in [0.5, 1])
    botwatch.flush()
    [span] = crm_spans(receiver)
    assert span["attributes"][semconv.CRM_OUTCOME] == "success"
    assert span["attributes"][semconv.CRM_ATTEMPTS] == 4
    retries = [attrs for name, attrs in span["events"] if name == semconv.EVENT_CRM_RETRY]
    assert [r[semconv.ERROR_TYPE] for r in retries] == ["QUERY_LIMIT_EXCEEDED"] * 3


async def test_client_keeps_to_the_portal_rate(portal):
    client = Bitrix24(portal.url, rate=20.0, burst=1)
    started = time.monotonic()
    for _ in range(5):
        await client.find_leads_by_phone("+79123456789")
    await client.aclose()
    assert time.monotonic() - started >= 0.18  # 4 waits of 1/20 s after the first token


async def test_throttling_pauses_every_caller_of_the_client():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=10, clock=lambda: now[0])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    await bucket.acquire(sleep)
    assert waits == []
    bucket.pause(3.0)
    await bucket.acquire(sleep)
    assert sum(waits) >= 3.0


async def test_portal_down_gives_error_span_metric_and_log_and_returns_the_error(bw, receiver):
    sleeps = Sleeps()
    client = fast_client(closed_port_url(), sleeps=sleeps, max_attempts=3)
    result, conv = await _create(client)
    await client.aclose()
    assert result == type(result)(None, created=False, error="ConnectError")
    botwatch.flush()
    spans = {s["name"]: s for s in crm_spans(receiver)}
    lead = spans["crm.lead.create"]  # a failed duplicate search does not stop the lead
    assert lead["attributes"][semconv.CRM_OUTCOME] == "error"
    assert lead["attributes"][semconv.ERROR_TYPE] == "ConnectError"
    assert lead["attributes"][semconv.CRM_ATTEMPTS] == 3  # nothing was sent, so even the write is retried
    assert lead["status"] == 2  # STATUS_CODE_ERROR
    failures = [
        p
        for metric, _ in receiver.metrics()
        if metric.name == semconv.CRM_ACTIONS.name
        for p in metric.sum.data_points
        if {kv.key: kv.value.string_value for kv in p.attributes}.get(semconv.CRM_ACTION) == "lead.create"
    ]
    attrs = {kv.key: kv.value.string_value for kv in failures[0].attributes}
    assert attrs[semconv.CRM_OUTCOME] == "error" and attrs[semconv.ERROR_TYPE] == "ConnectError"
    logged = [r for r in receiver.logs() if r["event_name"] == semconv.EVENT_CRM_ACTION]
    assert any(r["severity"] == "WARN" and r["trace_id"] == conv.trace_id for r in logged)


async def test_a_write_that_may_have_happened_is_not_retried(bw, receiver, portal):
    portal.fail_with = (500, "INTERNAL_SERVER_ERROR")
    client = fast_client(portal.url)
    result, _ = await _create(client, phone=None)
    await client.aclose()
    assert result.error == "INTERNAL_SERVER_ERROR"
    assert portal.methods() == ["crm.lead.add"]  # a retry could make two leads


async def test_errors_that_retrying_cannot_fix_fail_at_once(portal):
    bad = fast_client(portal.url.replace(TOKEN, "wrong"))
    with pytest.raises(Bitrix24Error) as caught:
        await bad.find_leads_by_phone("+79123456789")
    assert (caught.value.code, caught.value.status) == ("NO_AUTH_FOUND", 401)
    client = fast_client(portal.url)
    with pytest.raises(Bitrix24Error) as caught:
        await client.call("crm.nothing.here")
    assert caught.value.code == "ERROR_METHOD_NOT_FOUND"
    assert len(portal.calls) == 1
    portal.html_status = 502
    with pytest.raises(Bitrix24Error) as caught:
        await client.find_leads_by_phone("+79123456789")
    assert caught.value.code == "HTTP_502"
    assert len(portal.calls) == 1 + client.max_attempts  # a read is retried on a proxy error
    await bad.aclose()
    await client.aclose()


def test_decode_reads_bitrix24_shapes():
    ok = httpx.Response(200, json={"result": {"LEAD": [1]}, "time": {"start": 1.0}})
    assert decode(ok) == {"LEAD": [1]}
    throttled = httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    with pytest.raises(Bitrix24Error) as caught:
        decode(throttled)
    assert caught.value.transient and not caught.value.maybe_processed
    with pytest.raises(Bitrix24Error) as caught:
        decode(httpx.Response(200, text="not json"))
    assert caught.value.code == "BAD_RESPONSE"
    assert bitrix_phone("8 (912) 345-67-89") == "+79123456789"
    assert "w3bh00k" not in repr(Bitrix24(f"https://portal.example/rest/1/{TOKEN}/"))
