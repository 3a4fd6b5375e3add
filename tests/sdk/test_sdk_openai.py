"""init(instrument_openai=True): a real OpenAI client call becomes a GenAI span under the current turn.

The OpenAI API is not reachable here; tests/openai_api.py answers
``POST /v1/chat/completions`` with the API's real response shape (and its 429
for a rate-limited model), and the client talks to it through its ``base_url``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai_api import RATE_LIMITED_MODEL, openai_api

import botwatch
from botwatch import semconv

openai = pytest.importorskip("openai")
pytest.importorskip("opentelemetry.instrumentation.openai_v2")


@pytest.fixture
def client(receiver, tmp_path, monkeypatch) -> Iterator[openai.OpenAI]:
    """An OpenAI client of the local API, with botwatch(instrument_openai=True) exporting to the receiver."""
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    with openai_api() as base_url:
        botwatch.init(service_name="openai-bot", endpoint=receiver.url, instrument_openai=True)
        try:
            yield openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
        finally:
            botwatch.shutdown()


def test_openai_calls_nest_under_the_turn(receiver, client):
    with botwatch.conversation("sess_openai", channel="telegram") as conv:
        with conv.turn("Запишите меня на 15:00") as turn:
            answer = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Запишите меня на 15:00"}]
            )
            turn.reply(answer.choices[0].message.content or "")
    botwatch.flush()
    spans = receiver.spans()
    turn_span = next(s for s in spans if s["name"] == "turn")
    chat = next(s for s in spans if s["name"].startswith("chat "))
    assert chat["trace_id"] == conv.trace_id and chat["parent_id"] == turn_span["span_id"]
    assert chat["attributes"][semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert chat["attributes"][semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert chat["attributes"][semconv.GEN_AI_USAGE_INPUT_TOKENS] == 42
    assert chat["attributes"][semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    # Joined to the conversation, and the turn's latency metric knows which model answered.
    assert chat["attributes"][semconv.GEN_AI_CONVERSATION_ID] == "sess_openai"
    assert turn_span["attributes"][semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"


def test_a_refused_openai_call_says_which_error_by_its_qualified_name(receiver, client):
    with botwatch.conversation("sess_refused", channel="telegram") as conv:
        with conv.turn("Запишите меня на 15:00"):
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model=RATE_LIMITED_MODEL, messages=[{"role": "user", "content": "?"}])
    botwatch.flush()
    chat = next(s for s in receiver.spans() if s["name"] == f"chat {RATE_LIMITED_MODEL}")
    # opentelemetry-util-genai hands over the class; the SDK would write "<class 'openai.RateLimitError'>".
    assert chat["attributes"][semconv.ERROR_TYPE] == "openai.RateLimitError"
    assert chat["attributes"][semconv.GEN_AI_CONVERSATION_ID] == conv.id
    durations = [
        {kv.key: kv.value.string_value for kv in point.attributes}
        for metric, _ in receiver.metrics()
        if metric.name == semconv.GEN_AI_OPERATION_DURATION.name
        for point in metric.histogram.data_points
    ]
    assert {d.get(semconv.ERROR_TYPE) for d in durations} == {"openai.RateLimitError"}
