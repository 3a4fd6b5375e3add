"""init(instrument_openai=True): a real OpenAI client call becomes a GenAI span under the current turn.

The OpenAI API is not reachable here; a local server answers
``POST /v1/chat/completions`` with the API's real response shape, and the
client talks to it through its normal ``base_url``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import botwatch
from botwatch import semconv

openai = pytest.importorskip("openai")
pytest.importorskip("opentelemetry.instrumentation.openai_v2")

COMPLETION = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Записал на 15:00", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
    "system_fingerprint": "fp_test",
}


@pytest.fixture
def openai_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/v1/chat/completions":
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(COMPLETION).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_calls_nest_under_the_turn(receiver, openai_server, tmp_path, monkeypatch):
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    botwatch.init(service_name="openai-bot", endpoint=receiver.url, instrument_openai=True)
    try:
        client = openai.OpenAI(base_url=openai_server, api_key="test-key", max_retries=0)
        with botwatch.conversation("sess_openai", channel="telegram") as conv:
            with conv.turn("Запишите меня на 15:00") as turn:
                answer = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Запишите меня на 15:00"}]
                )
                turn.reply(answer.choices[0].message.content or "")
        botwatch.flush()
    finally:
        botwatch.shutdown()
    spans = receiver.spans()
    turn_span = next(s for s in spans if s["name"] == "turn")
    chat = next(s for s in spans if s["name"].startswith("chat "))
    assert chat["trace_id"] == conv.trace_id and chat["parent_id"] == turn_span["span_id"]
    assert chat["attributes"][semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert chat["attributes"][semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert chat["attributes"][semconv.GEN_AI_USAGE_INPUT_TOKENS] == 42
    assert chat["attributes"][semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
