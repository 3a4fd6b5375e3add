"""What botwatch really sends follows the OpenTelemetry semantic conventions.

One process runs the demo simulator (with faults, so errors happen), a
conversation with loguru and logging lines and an OpenAI call (one answered,
one refused with 429) through the OpenAI instrumentation, and the webhook
gateway serving three requests; everything goes over OTLP/HTTP into
tests/otlp_receiver.py.  Then every attribute key, event name and metric that
arrived is checked: no deprecated names, the required ones present, our own
names in the ``botwatch.`` namespace and in the registry with the right type,
and never an empty ``error.type``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_support import client_of, config, example_event, post_signed
from harness.capture import attributes_of, value_of
from loguru import logger
from openai_api import RATE_LIMITED_MODEL, openai_api
from semconv_rules import NAMESPACE, load_registry, metric_unit, otel_catalogue

import botwatch
from botwatch import semconv
from botwatch.demo.faults import parse_faults
from botwatch.demo.runner import run_demo
from botwatch.gateway.app import ROUTES

openai = pytest.importorskip("openai")
pytest.importorskip("opentelemetry.instrumentation.openai_v2")

OUR_SCOPES = ("botwatch", "botwatch.gateway")
# Event names defined by the conventions themselves (span events of exceptions).
STANDARD_EVENTS = {"exception"}
OPENAI_VARIANT = "openai-check"


class BookingHandler:
    def handle(self) -> None:
        logger.info("loguru line from a method")
        logging.getLogger("salon.bot").warning("logging line from a method")


async def _capture(receiver: Any) -> None:
    with openai_api() as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
        run_demo(40, None, parse_faults("slow_llm=0.2,crm_errors=0.4,low_confidence=0.2"), 11)
        with botwatch.conversation("sess_conformance", channel="telegram", scenario_variant=OPENAI_VARIANT) as conv:
            with conv.turn("Запишите меня") as turn:
                BookingHandler().handle()
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
                with pytest.raises(openai.RateLimitError):
                    client.chat.completions.create(
                        model=RATE_LIMITED_MODEL, messages=[{"role": "user", "content": "Hi"}]
                    )
                with turn.llm(
                    "text-embedding-3-small", operation="embeddings", server_address="api.openai.com", server_port=443
                ):
                    pass
                turn.reply("Записал")
            with conv.send("Напоминаем о записи", kind="reminder"):
                pass
        async with client_of(botwatch.gateway.create_app(config())) as http:
            assert (await post_signed(http, example_event())).status_code == 200
            assert (await http.get("/health/live")).status_code == 200
            assert (await http.get("/no/such/route")).status_code == 404
        botwatch.flush()


@pytest.fixture(scope="module")
def captured(receiver: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Any]]]:
    env = pytest.MonkeyPatch()
    env.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    env.setenv("BOTWATCH_SECRET_FILE", str(tmp_path_factory.mktemp("semconv") / "secret"))
    receiver.clear()
    botwatch.init(
        service_name="semconv-bot",
        endpoint=receiver.url,
        secret="semconv-secret-0123456789abcdef",
        capture_logging=True,
        instrument_openai=True,
    )
    try:
        asyncio.run(_capture(receiver))
    finally:
        botwatch.shutdown()
        env.undo()
    yield _decode(receiver)


def _decode(receiver: Any) -> dict[str, list[Any]]:
    """Spans, log records and metric points, each with its instrumentation scope."""
    out: dict[str, list[Any]] = {"spans": [], "logs": [], "points": [], "scopes": [], "resources": []}
    for request in receiver.requests["/v1/traces"]:
        for rs in request.resource_spans:
            out["resources"].append(attributes_of(rs.resource.attributes))
            for ss in rs.scope_spans:
                out["scopes"].append((ss.scope, ss.schema_url))
                for span in ss.spans:
                    out["spans"].append((ss.scope.name, span))
    for request in receiver.requests["/v1/logs"]:
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                out["scopes"].append((sl.scope, sl.schema_url))
                out["logs"].extend((sl.scope.name, record) for record in sl.log_records)
    for request in receiver.requests["/v1/metrics"]:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                out["scopes"].append((sm.scope, sm.schema_url))
                for metric in sm.metrics:
                    data = getattr(metric, metric.WhichOneof("data"))
                    out["points"].extend((sm.scope.name, metric, p) for p in data.data_points)
    return out


def _every_attribute_set(captured: dict[str, list[Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(scope, where, attributes) for every span, span event, log record and metric point."""
    for scope, span in captured["spans"]:
        yield scope, f"span {span.name!r}", attributes_of(span.attributes)
        for event in span.events:
            yield scope, f"event {event.name!r} of span {span.name!r}", attributes_of(event.attributes)
    for scope, record in captured["logs"]:
        yield scope, f"log record {record.event_name!r}", attributes_of(record.attributes)
    for scope, metric, point in captured["points"]:
        yield scope, f"metric {metric.name}", attributes_of(point.attributes)
    for resource in captured["resources"]:
        yield "resource", "resource", resource


def test_the_capture_holds_every_kind_of_telemetry(captured):
    names = {span.name for _, span in captured["spans"]}
    assert {"conversation", "turn", "message.send", "crm.lead.create", "chat gpt-4o-mini"} <= names
    assert "embeddings text-embedding-3-small" in names
    assert len(captured["logs"]) > 100 and len(captured["points"]) > 20
    assert {scope for scope, *_ in captured["points"]} >= {"botwatch", "botwatch.gateway"}


def test_no_deprecated_attribute_anywhere(captured):
    deprecated = otel_catalogue().deprecated
    found = {
        (key, where): deprecated.get(key, "botwatch's own, obsoleted")
        for _, where, attributes in _every_attribute_set(captured)
        for key in attributes
        if key in deprecated or key == semconv.LEGACY_EVENT_ATTRIBUTE
    }
    assert found == {}
    for old in ("code.function", "code.lineno", "code.namespace", "http.target", "gen_ai.system"):
        assert old in deprecated  # the catalogue knows them, so their absence above means something


def test_every_attribute_is_a_convention_or_ours_with_its_registered_type(captured):
    catalogue, registry = otel_catalogue(), load_registry()
    wrong = []
    for scope, where, attributes in _every_attribute_set(captured):
        for key, value in attributes.items():
            if key.startswith(NAMESPACE):
                if key not in registry.attributes:
                    wrong.append(f"{where}: {key} is not in the registry")
                elif not isinstance(value, registry.python_type(key)) or (
                    registry.python_type(key) is int and isinstance(value, bool)
                ):
                    wrong.append(f"{where}: {key}={value!r} is not {registry.attributes[key]['type']}")
            elif key not in catalogue.attributes and scope in (*OUR_SCOPES, "resource"):
                wrong.append(f"{where}: {key} is neither an OpenTelemetry attribute nor botwatch.*")
    assert wrong == []


def test_event_names_are_namespaced_and_registered(captured):
    registry = load_registry()
    names = {record.event_name for scope, record in captured["logs"] if scope in OUR_SCOPES and record.event_name}
    names |= {event.name for scope, span in captured["spans"] if scope in OUR_SCOPES for event in span.events}
    assert names - STANDARD_EVENTS <= registry.events, names - STANDARD_EVENTS - registry.events
    assert {semconv.EVENT_MESSAGE_RECEIVED, semconv.EVENT_BOT_REPLIED, semconv.EVENT_CRM_ACTION} <= names
    assert semconv.funnel_event_name(semconv.CONVERSATION_STARTED) in names
    assert semconv.EVENT_MESSAGE_SENT in names and semconv.EVENT_ERROR not in names


def test_metric_names_are_conventions_or_ours(captured):
    catalogue, registry = otel_catalogue(), load_registry()
    names = {metric.name for _, metric, _ in captured["points"]}
    assert {m for m in names if m.startswith(NAMESPACE)} <= set(registry.metrics)
    assert {m for m in names if not m.startswith(NAMESPACE)} <= set(catalogue.metrics)
    assert not names & set(catalogue.deprecated)
    units = {metric.name: metric.unit for _, metric, _ in captured["points"]}
    assert units["http.server.request.duration"] == metric_unit("http.server.request.duration") == "s"
    # GenAI moved out of the installed catalogue (no unit there); the GenAI conventions say:
    assert units["gen_ai.client.operation.duration"] == "s" and units["gen_ai.client.token.usage"] == "{token}"


def test_error_type_is_never_empty_nor_a_class_repr(captured):
    values = [
        (where, attributes[semconv.ERROR_TYPE])
        for _, where, attributes in _every_attribute_set(captured)
        if semconv.ERROR_TYPE in attributes
    ]
    assert values, "the faults made errors"
    assert [(w, v) for w, v in values if not v or v.startswith("<class ")] == []
    crm = [
        a for _, m, p in captured["points"] if m.name == semconv.CRM_ACTIONS.name for a in [attributes_of(p.attributes)]
    ]
    ok = [a for a in crm if a[semconv.CRM_OUTCOME] == semconv.CRM_OUTCOME_SUCCESS]
    failed = [a for a in crm if a[semconv.CRM_OUTCOME] == semconv.CRM_OUTCOME_ERROR]
    assert ok and failed and all(semconv.ERROR_TYPE not in a for a in ok) and all(a[semconv.ERROR_TYPE] for a in failed)
    assert ("span 'chat gpt-4o'", "openai.RateLimitError") in values
    assert any(w == "metric gen_ai.client.operation.duration" and v == "openai.RateLimitError" for w, v in values)


def test_genai_spans_carry_the_required_attributes_and_the_conversation(captured):
    genai = [(scope, attributes_of(s.attributes), s) for scope, s in captured["spans"]]
    genai = [(scope, a, s) for scope, a, s in genai if semconv.GEN_AI_OPERATION_NAME in a]
    assert len({scope for scope, *_ in genai}) == 2  # botwatch's own and the OpenAI instrumentation's
    for scope, attributes, span in genai:
        for key in (semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL):
            assert attributes.get(key), (span.name, key)
        assert attributes[semconv.GEN_AI_OPERATION_NAME] in semconv.GEN_AI_OPERATIONS
        assert attributes.get(semconv.GEN_AI_CONVERSATION_ID), (scope, span.name)
        assert span.kind == span.SPAN_KIND_CLIENT
    auto = [a for scope, a, _ in genai if scope != "botwatch"]
    assert {a[semconv.GEN_AI_CONVERSATION_ID] for a in auto} == {"sess_conformance"}
    manual = [a for scope, a, _ in genai if scope == "botwatch" and a[semconv.GEN_AI_OPERATION_NAME] == "chat"]
    assert all(a.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS) or semconv.ERROR_TYPE in a for a in manual)


def test_genai_metrics_keep_the_operation_and_the_turn_knows_the_instrumented_model(captured):
    points = [(m.name, attributes_of(p.attributes)) for _, m, p in captured["points"]]
    operations = {a[semconv.GEN_AI_OPERATION_NAME] for n, a in points if n == semconv.GEN_AI_OPERATION_DURATION.name}
    assert {"chat", "embeddings"} <= operations and semconv.OTHER not in operations
    for name, attributes in points:
        if name.startswith("gen_ai.client."):
            assert attributes[semconv.GEN_AI_PROVIDER_NAME] and attributes[semconv.GEN_AI_REQUEST_MODEL], attributes
    turn_models = {
        a[semconv.GEN_AI_REQUEST_MODEL]
        for n, a in points
        if n == semconv.TURN_DURATION.name and a[semconv.SCENARIO_VARIANT] == OPENAI_VARIANT
    }
    assert turn_models and "unknown" not in turn_models


def test_client_and_producer_spans_name_their_peer(captured):
    ours = [(s, attributes_of(s.attributes)) for scope, s in captured["spans"] if scope == "botwatch"]
    # A webhook event does not say which host the bot called, so the gateway's spans cannot.
    gateway_traces = {s.trace_id for s, a in ours if semconv.GATEWAY_EVENT_ID in a}
    clients = [(s, a) for s, a in ours if s.kind == s.SPAN_KIND_CLIENT and s.trace_id not in gateway_traces]
    assert len(clients) > 50
    assert [s.name for s, a in clients if not a.get(semconv.SERVER_ADDRESS)] == []
    assert all(a[semconv.SERVER_PORT] == 443 for _, a in clients)
    sends = [a for s, a in ours if s.name == semconv.SPAN_MESSAGE_SEND]
    assert sends
    for attributes in sends:
        assert attributes[semconv.MESSAGING_SYSTEM] == attributes[semconv.CHANNEL]
        assert attributes[semconv.MESSAGING_OPERATION_TYPE] == "send"
        assert attributes[semconv.MESSAGING_OPERATION_NAME] == "send"
        assert "messaging.destination.name" not in attributes  # a client's chat is personal data


def test_the_http_server_metric_follows_the_http_conventions(captured):
    points = [attributes_of(p.attributes) for _, m, p in captured["points"] if m.name == "http.server.request.duration"]
    assert points
    for attributes in points:
        assert attributes[semconv.HTTP_REQUEST_METHOD] in semconv.HTTP_METHODS
        assert attributes[semconv.URL_SCHEME] == "http"
        assert attributes[semconv.NETWORK_PROTOCOL_VERSION] == "1.1"
        assert attributes.get(semconv.HTTP_ROUTE, "/v1/events") in ROUTES
    unmatched = [a for a in points if a[semconv.HTTP_RESPONSE_STATUS_CODE] == 404]
    assert unmatched and all(semconv.HTTP_ROUTE not in a for a in unmatched)
    buckets = {
        tuple(p.explicit_bounds)
        for _, m, p in captured["points"]
        if m.name == semconv.HTTP_SERVER_REQUEST_DURATION.name
    }
    assert buckets == {semconv.HTTP_DURATION_BUCKETS}


def test_bridged_log_lines_say_where_they_were_written(captured):
    lines = [attributes_of(r.attributes) for _, r in captured["logs"] if value_of(r.body).endswith("from a method")]
    assert len(lines) == 2
    for attributes in lines:
        assert attributes[semconv.CODE_FUNCTION_NAME] == f"{__name__}.BookingHandler.handle"
        assert attributes[semconv.CODE_LINE_NUMBER] > 0
        assert attributes[semconv.CODE_FILE_PATH] == __file__


def test_botwatch_scopes_carry_version_and_schema_url(captured):
    ours = [(scope, url) for scope, url in captured["scopes"] if scope.name in OUR_SCOPES]
    assert {scope.name for scope, _ in ours} == set(OUR_SCOPES)
    for scope, schema_url in ours:
        assert scope.version == importlib.metadata.version("botwatch")
        assert schema_url == semconv.SCHEMA_URL == "https://opentelemetry.io/schemas/1.41.1"
