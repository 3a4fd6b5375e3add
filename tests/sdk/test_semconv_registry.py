"""The semantic-conventions registry beside semconv.py says what semconv.py says, in Weaver's format."""

from __future__ import annotations

import copy

import pytest
from opentelemetry.semconv.schemas import Schemas
from semconv_rules import load_registry, otel_catalogue, registry_problems

from botwatch import semconv


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_the_registry_and_semconv_py_agree(registry):
    assert registry_problems(registry, semconv) == []


def test_the_registry_covers_every_kind_of_name(registry):
    assert len(registry.attributes) >= 30 and len(registry.metrics) >= 10
    assert semconv.EVENT_MESSAGE_RECEIVED in registry.events
    assert semconv.funnel_event_name(semconv.PAID) in registry.events
    assert registry.attributes[semconv.LEGACY_EVENT_ATTRIBUTE]["deprecated"]["reason"] == "obsoleted"
    assert {g["id"] for g in registry.of_type("span")} >= {"span.botwatch.chat", "span.botwatch.message.send"}


def _first_attribute_group(registry):
    return next(g for g in registry.groups if g["type"] == "attribute_group")


def test_a_name_missing_on_either_side_is_reported(registry, monkeypatch):
    dropped = copy.deepcopy(registry)
    group = _first_attribute_group(dropped)
    gone = group["attributes"].pop(0)["id"]
    assert f"attribute {gone} is in semconv.py, not in the registry" in registry_problems(dropped, semconv)

    monkeypatch.setattr(semconv, "BRAND_NEW", "botwatch.brand.new", raising=False)
    assert "attribute botwatch.brand.new is in semconv.py, not in the registry" in registry_problems(registry, semconv)
    monkeypatch.setattr(semconv, "EVENT_BRAND_NEW", "botwatch.brand.happened", raising=False)
    assert "event botwatch.brand.happened is in semconv.py, not in the registry" in registry_problems(registry, semconv)


def test_a_wrong_metric_enum_or_reference_is_reported(registry):
    broken = copy.deepcopy(registry)
    broken.metrics[semconv.CRM_ACTIONS.name]["unit"] = "1"
    broken.metrics[semconv.CONVERSATIONS.name]["attributes"].append({"ref": "gen_ai.request.model"})
    stage = broken.attributes[semconv.FUNNEL_STAGE]["type"]["members"]
    stage.pop()
    span = next(g for g in broken.groups if g["id"] == "span.botwatch.chat")
    span["attributes"] += [{"ref": "code.lineno"}, {"ref": "no.such.attribute"}, {"ref": "botwatch.nowhere"}]
    problems = "\n".join(registry_problems(broken, semconv))
    assert "metric botwatch.crm.actions: registry says counter in '1'" in problems
    assert "metric botwatch.conversations: registry attributes" in problems
    assert "attribute botwatch.funnel.stage: registry members" in problems
    assert "ref code.lineno is deprecated" in problems
    assert "ref no.such.attribute is no OpenTelemetry attribute" in problems
    assert "ref botwatch.nowhere is defined nowhere" in problems


def test_a_group_weaver_could_not_read_is_reported(registry):
    broken = copy.deepcopy(registry)
    attribute = _first_attribute_group(broken)["attributes"][0]
    attribute["type"] = "str"
    del attribute["examples"]
    broken.groups.append(dict(broken.groups[0]))  # a duplicate id
    broken.groups.append({"id": "metric.x", "type": "metrics", "brief": "x"})
    problems = "\n".join(registry_problems(broken, semconv))
    assert f"attribute {attribute['id']!r}: type 'str'" in problems
    assert f"attribute {attribute['id']!r}: no examples" in problems
    assert "appears twice" in problems and "type 'metrics' is not one of" in problems


def test_the_otel_catalogue_tells_deprecated_from_moved_names():
    catalogue = otel_catalogue()
    for old in ("code.function", "code.lineno", "code.namespace", "http.target", "gen_ai.system", "http.method"):
        assert old in catalogue.deprecated, old
    for current in ("code.function.name", "code.line.number", "gen_ai.provider.name", "gen_ai.conversation.id"):
        assert current in catalogue.attributes and current not in catalogue.deprecated, current


def test_the_schema_url_is_a_published_semantic_conventions_release():
    assert semconv.SCHEMA_URL in {schema.value for schema in Schemas}
    assert semconv.SCHEMA_URL.endswith(semconv.SEMCONV_VERSION)
