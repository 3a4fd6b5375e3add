"""The public API: typed keyword-only ``init()``, an injectable destination, docstrings, private internals."""

from __future__ import annotations

import inspect
import typing

import pytest
from harness.paths import REPO

import botwatch
from botwatch import semconv
from botwatch.settings import Settings
from botwatch.testing import InMemoryDestination


@pytest.fixture
def memory(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    destination = InMemoryDestination()
    botwatch.init(service_name="salon-bot", destination=destination)
    yield destination
    botwatch.shutdown()


def test_in_memory_destination_holds_spans_logs_and_metrics_without_a_receiver(memory, tmp_path):
    with botwatch.conversation("sess-mem-1", channel="telegram", client_phone="+79123456789") as conv:
        with conv.turn("Хочу записаться, мой номер +7 912 345-67-89") as turn:
            turn.intent("booking", confidence=0.9)
            with turn.llm("gpt-4o-mini") as call:
                call.usage(120, 30)
            with turn.crm("lead.create") as crm:
                crm.entity_id = 42
            turn.reply("Записала на 15:00")
        conv.funnel("booking_created")

    spans = memory.finished_spans()
    assert [s.name for s in spans] == ["conversation", "chat gpt-4o-mini", "crm.lead.create", "turn", "funnel"]
    assert {s.context.trace_id for s in spans} == {int(conv.trace_id, 16)}
    assert memory.event_names() == [
        semconv.funnel_event_name(semconv.CONVERSATION_STARTED),
        semconv.EVENT_MESSAGE_RECEIVED,
        semconv.EVENT_CRM_ACTION,
        semconv.EVENT_BOT_REPLIED,
        semconv.funnel_event_name("booking_created"),
    ]
    received = memory.log_records()[1]
    assert "345" not in str(received.body) and "ph_" in str(received.body)  # masked, as exported
    (started,) = memory.metric_points(semconv.CONVERSATIONS.name)
    assert started.value == 1 and started.attributes[semconv.CHANNEL] == "telegram"
    (duration,) = memory.metric_points(semconv.TURN_DURATION.name)
    assert duration.count == 1
    usage = memory.metric_points("gen_ai.client.token.usage")
    tokens = {p.attributes[semconv.GEN_AI_TOKEN_TYPE]: p.value for p in usage}
    assert tokens == {"input": 120, "output": 30}
    assert not list(tmp_path.glob("*.sqlite"))  # nothing went to a journal

    memory.clear()
    assert memory.finished_spans(flush=False) == [] and memory.log_records(flush=False) == []


def test_destination_and_endpoint_together_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    with pytest.raises(ValueError, match="destination= or endpoint="):
        botwatch.init(destination=InMemoryDestination(), endpoint="http://127.0.0.1:4318")


def test_init_has_keyword_only_typed_parameters_for_every_setting():
    signature = inspect.signature(botwatch.init)
    parameters = signature.parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values()), "no **options"
    assert [p.name for p in parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD] == ["service_name"]
    hints = typing.get_type_hints(botwatch.init)
    assert all(name in hints for name in parameters), "every parameter typed"
    # every option Settings.resolve takes (env aside: init reads the process environment) has the same default
    resolve = inspect.signature(Settings.resolve).parameters
    for name, option in resolve.items():
        if name == "env":
            continue
        assert name in parameters, f"init() lost the option {name}"
        assert parameters[name].default == option.default, name
    assert "destination" in parameters and parameters["destination"].default is None


def _public_members(obj: object) -> list[tuple[str, object]]:
    members = []
    for name, value in vars(obj).items():
        if name.startswith("_"):
            continue
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            members.append((name, value))
    return members


def _documented(obj: object) -> bool:
    return bool((inspect.getdoc(obj) or "").strip())


def test_every_public_name_and_method_has_a_docstring():
    missing = []
    for name in botwatch.__all__:
        obj = getattr(botwatch, name)
        if not _documented(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for klass in obj.__mro__:
                if klass.__module__.startswith("botwatch"):
                    missing += [f"{name}.{m}" for m, value in _public_members(klass) if not _documented(value)]
    import botwatch.testing as testing

    for name in testing.__all__:
        obj = getattr(testing, name)
        missing += [f"testing.{name}"] if not _documented(obj) else []
        missing += [f"testing.{name}.{m}" for m, value in _public_members(obj) if not _documented(value)]
    assert not missing, f"no docstring: {sorted(set(missing))}"


def test_conversation_internals_are_private():
    public = {name for name in dir(botwatch.Conversation) if not name.startswith("_")}
    assert public == {"funnel", "review", "send", "tag", "tagged", "trace_id", "turn"}
    conv = botwatch.Conversation.__init__.__code__.co_names
    for internal in ("common", "labels", "context", "trace_id_int", "root_span_id", "clock", "telemetry"):
        assert internal not in conv or f"_{internal}" in conv, internal


def test_review_records_a_span_event_log_and_counter(memory):
    with botwatch.conversation("sess-mem-2", channel="telegram") as conv:
        with conv.turn("сколько стоит стрижка"):
            pass
    memory.clear()
    with botwatch.conversation("sess-mem-2", channel="telegram", resume=True) as conv:
        conv.review(1, intent="price", correct=False, true_intent="booking")
    (span,) = memory.finished_spans()
    assert span.name == semconv.SPAN_REVIEW and span.attributes[semconv.REVIEW_TRUE_INTENT] == "booking"
    assert [e.name for e in span.events] == [semconv.EVENT_REVIEW]
    assert memory.event_names() == [semconv.EVENT_REVIEW]
    (reviews,) = memory.metric_points(semconv.REVIEWS.name)
    assert reviews.value == 1 and reviews.attributes[semconv.REVIEW_VERDICT] == semconv.REVIEW_VERDICT_WRONG


def test_readme_testing_your_bot_example_passes_as_written(tmp_path):
    import os
    import re
    import subprocess
    import sys

    readme = (REPO / "README.md").read_text()
    section = readme.split("### Testing your bot\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (tmp_path / "test_example.py").write_text(code)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTWATCH_"))}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_example.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**environ, "HOME": str(tmp_path)},
        timeout=120,
    )
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr


def test_tag_and_tagged_add_attributes_to_the_conversations_spans(memory):
    with botwatch.conversation("c-tag", channel="telegram") as conv:
        conv.tag({"app.shift": "evening"})
        with conv.turn("Сколько стоит стрижка?") as turn:
            with conv.tagged({"app.reply_media": "photo"}):
                turn.reply("1500 ₽")
        with conv.turn("А завтра?") as turn:
            turn.reply("Есть окно в 12:00")
    turns = [s for s in memory.finished_spans() if s.attributes.get("botwatch.turn.index") is not None]
    assert len(turns) == 2 and all(s.attributes.get("app.shift") == "evening" for s in turns)
    assert not any("app.reply_media" in s.attributes for s in turns)
    tagged = [r for r in memory.log_records() if r.attributes and "app.reply_media" in r.attributes]
    assert len(tagged) == 1  # the reply inside the block, not the one after it
