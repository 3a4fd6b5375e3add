"""Label budgets per tenant: one tenant's junk folds into its own `other`, never into everyone's overflow.

Through the SDK to a real OTLP/HTTP receiver, as a gateway records for many
tenants: one tenant crosses 50 intents × 20 models × 20 variants (every
value inside the per-label bounds), another then talks on Telegram.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from otlp_receiver import OTLPReceiver

import botwatch
from botwatch import semconv
from botwatch.budgets import SERIES_RESERVE


def _points(receiver: OTLPReceiver, name: str) -> list[dict[str, Any]]:
    """The data points of the last export of ``name``, each as its attributes."""
    found = [metric for metric, _ in receiver.metrics() if metric.name == name]
    assert found, f"{name} not exported"
    data = found[-1].histogram if found[-1].HasField("histogram") else found[-1].sum
    return [{kv.key: _value(kv.value) for kv in point.attributes} for point in data.data_points]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _turn(tenant: str, conversation_id: str, channel: str, intent: str, model: str, variant: str) -> None:
    with botwatch.conversation(conversation_id, channel=channel, scenario_variant=variant, tenant=tenant) as conv:
        with conv.turn("Хочу записаться") as turn:
            turn.intent(intent, confidence=0.9)
            turn.model = model
            turn.reply("Записала")


@pytest.fixture
def budgeted(receiver: OTLPReceiver, tmp_path, monkeypatch) -> Any:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    # A gateway of 3 tenants with the default budget of 300 label sets per metric and tenant.
    telemetry = botwatch.init(
        service_name="gateway", endpoint=receiver.url, secret="budget-secret-0123456789", max_tenants=3
    )
    yield telemetry
    botwatch.shutdown()


def test_one_tenants_junk_leaves_another_tenants_telegram_series_intact(budgeted, receiver) -> None:
    budget = budgeted.settings.label_budget
    # 60 intents, 25 models, 25 variants: past every per-label bound, and 2 500 label sets,
    # more than the SDK's default 2 000 series per metric that used to overflow for everyone.
    for number in range(2500):
        intent, model, variant = f"intent{number % 60}", f"m{number // 3 % 25}", f"v{number // 11 % 25}"
        _turn("junk", f"junk-{number}", "telegram", intent, model, variant)
    _turn("salon", "salon-1", "telegram", "booking", "gpt-4o-mini", "A")
    _turn("salon", "salon-2", "whatsapp", "price", "gpt-4o-mini", "B")
    botwatch.flush()

    points = _points(receiver, semconv.TURN_DURATION.name)
    assert not [p for p in points if p.get("otel.metric.overflow")], "the SDK's global overflow series was used"
    by_tenant = Counter(p[semconv.TENANT] for p in points)
    assert budget < by_tenant["junk"] <= budget + SERIES_RESERVE + 8, by_tenant
    salon = [p for p in points if p[semconv.TENANT] == "salon"]
    assert {
        semconv.TENANT: "salon",
        semconv.CHANNEL: "telegram",
        semconv.INTENT: "booking",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.SCENARIO_VARIANT: "A",
    } in salon
    assert len(salon) == 2 and all(semconv.OTHER not in p.values() for p in salon)
    junk_intents = {p[semconv.INTENT] for p in points if p[semconv.TENANT] == "junk"}
    assert semconv.OTHER in junk_intents and len(junk_intents - {semconv.OTHER}) <= 50

    hits = _points(receiver, semconv.LABEL_BUDGET_EXCEEDED.name)
    subjects = {(p[semconv.BUDGET_KIND], p[semconv.BUDGET_SUBJECT]) for p in hits if p[semconv.TENANT] == "junk"}
    assert (semconv.BUDGET_KIND_VALUES, semconv.INTENT) in subjects
    assert (semconv.BUDGET_KIND_SERIES, semconv.TURN_DURATION.name) in subjects
    assert not [p for p in hits if p[semconv.TENANT] == "salon"]


def test_tenants_past_the_cap_share_other(budgeted, receiver) -> None:
    for number in range(6):  # max_tenants=3: from the 4th tenant on they share `other`
        _turn(f"t{number}", f"cap-{number}", "telegram", "booking", "m", "A")
    botwatch.flush()
    tenants = {p[semconv.TENANT] for p in _points(receiver, semconv.TURN_DURATION.name)}
    assert tenants == {"t0", "t1", "t2", semconv.OTHER}


def test_a_tenant_is_an_id_not_free_text(budgeted) -> None:
    with pytest.raises(ValueError, match="tenant"):
        botwatch.conversation("c1", channel="telegram", tenant="Салон +7 912 345-67-89")


def test_the_process_tenant_is_a_resource_attribute(receiver, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    botwatch.init(service_name="salon-bot", endpoint=receiver.url, secret="label-budget-secret-01", tenant="salon-1")
    try:
        _turn_own = botwatch.conversation("own-1", channel="telegram")
        with _turn_own as conv, conv.turn("Привет") as turn:
            turn.reply("Здравствуйте")
        botwatch.flush()
    finally:
        botwatch.shutdown()
    resources = [resource for metric, resource in receiver.metrics() if metric.name == semconv.TURN_DURATION.name]
    assert resources and resources[-1][semconv.TENANT] == "salon-1"
    (point,) = _points(receiver, semconv.TURN_DURATION.name)
    assert semconv.TENANT not in point  # on the resource, not repeated on each series
