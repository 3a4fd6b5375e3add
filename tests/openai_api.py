"""A local stand-in for the OpenAI chat completions API (the real one is not reachable here).

``POST /v1/chat/completions`` answers with the API's real response shape; a
request for :data:`RATE_LIMITED_MODEL` gets the API's 429 answer instead, which
the ``openai`` client raises as ``openai.RateLimitError``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RATE_LIMITED_MODEL = "gpt-4o"
RATE_LIMITED = {"error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": None}}


def completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": f"{model}-2024-07-18",
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


@contextmanager
def openai_api() -> Iterator[str]:
    """The API's base URL (``…/v1``) while the server runs."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path != "/v1/chat/completions":
                status, body = 404, {"error": {"message": "Unknown request URL", "type": "invalid_request_error"}}
            elif request.get("model") == RATE_LIMITED_MODEL:
                status, body = 429, RATE_LIMITED
            else:
                status, body = 200, completion(str(request.get("model")))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
