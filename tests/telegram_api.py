"""A local Telegram Bot API server in a thread, for the tests that talk to Telegram.

``BotAPI`` answers ``GET``/``POST /bot<token>/<method>`` on 127.0.0.1 as
api.telegram.org does: ``{"ok": true, "result": ...}`` with HTTP 200, or
``{"ok": false, "error_code": N, "description": "..."}`` with HTTP status N
(401 for another token, 404 for a path that is not a method).  Parameters are
read from the query string and from a JSON, ``application/x-www-form-urlencoded``
or ``multipart/form-data`` body; an uploaded file becomes an :class:`Upload`.

Every call is recorded in ``calls`` (method, parameters, HTTP status, time);
``accepted(method)`` lists the ones answered ``"ok": true`` and ``sent(method)``
their parameters; ``wait_for`` waits for a message; ``fail_next`` makes chosen
messages get Telegram's real error answers (``ERRORS``) first, as a flood
limit or an outage would; a chat in ``missing_chats`` is one the bot is not in ("chat not found").

``enqueue`` hands the bot updates as Telegram would (``update_id`` counts up);
``getUpdates`` returns them as long polling does: ``offset`` confirms (forgets)
every update below it, ``limit`` is 1-100, ``timeout`` holds an empty answer
up to that many seconds (at most ``MAX_POLL``) and wakes on a new update,
``allowed_updates`` is remembered and drops the other kinds; a getUpdates held
when another one arrives is ended with 409 ``Conflict: terminated by other
getUpdates request``.  ``deleteWebhook`` with ``drop_pending_updates`` empties the queue.

A text or caption Telegram would refuse is refused the same way: HTML that
does not parse, or longer than 4096 characters (a caption 1024) once parsed,
gets Telegram's 400 answer (see ``telegram_entities``).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from telegram_entities import EntityError, check, plain

TOKEN = "123456:TEST-token"  # "<bot id>:<secret>", as @BotFather issues them
BOT_NAME, BOT_USERNAME = "Salon", "salon_test_bot"
CHAT_TITLE = "Salon owner"  # the title of every group chat
CLIENT_NAME = "Client"  # the first name of every private chat

ERRORS: dict[int, dict[str, Any]] = {  # what api.telegram.org answers, by HTTP status
    400: {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
    403: {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    429: {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    },
    500: {"ok": False, "error_code": 500, "description": "Internal Server Error"},
}
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
MAX_POLL = 50.0  # seconds; Telegram ends a long poll after about this long
_METHOD_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)")


def _error(status: int, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"ok": False, "error_code": status, "description": description}


@dataclass(frozen=True)
class Upload:
    """A file sent as a ``multipart/form-data`` part with a filename."""

    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]  # JSON values as sent; form fields as str; files as Upload
    status: int  # the HTTP status answered
    at: float  # time.monotonic() when it was answered


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of concurrent connections must not overflow the listen backlog


class BotAPI:
    """The Telegram Bot API of the bot whose token is ``token``, at ``url``; ``close()`` stops it.

    ``delay`` (seconds) is waited before each answer.
    """

    def __init__(self, token: str = TOKEN, delay: float = 0.0) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.delay = delay
        self.calls: list[Call] = []
        self._failures: deque[tuple[int, str, str]] = deque()  # (status, method, text the message must contain)
        self._lock = threading.Lock()
        self._updated = threading.Condition(self._lock)  # an update was enqueued, a poll began, or the server closed
        self._updates: deque[dict[str, Any]] = deque()  # not yet confirmed by a getUpdates offset
        self._update_id = 0
        self._allowed: list[str] = []  # the last allowed_updates; empty: every kind
        self._poll = 0  # the number of the getUpdates that is held; an earlier one still waiting gets 409
        self._held = 0  # getUpdates requests waiting for an update now
        self._closed = False
        self._message_id = 0
        self.missing_chats: set[int] = set()  # chats the bot is not in: "chat not found", as Telegram answers
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop; a held getUpdates is answered at once (with what is pending) and recorded in ``calls``."""
        with self._lock:
            self._closed = True
            self._updated.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # --- what a test reads and scripts ---------------------------------------------------------------------------
    def accepted(self, method: str = "sendMessage") -> list[Call]:
        """The calls of ``method`` answered with ``"ok": true``, in order."""
        with self._lock:
            return [call for call in self.calls if call.method == method and call.status == 200]

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        """Parameters of the accepted calls of ``method``, in order."""
        return [call.params for call in self.accepted(method)]

    def wait_for(
        self, predicate: Callable[[str], bool], timeout: float = 20, method: str = "sendMessage"
    ) -> dict[str, Any]:
        """The first accepted message whose text (or caption) satisfies ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for params in self.sent(method):
                if predicate(_text(params)):
                    return params
            if time.monotonic() >= deadline:
                raise AssertionError(f"no matching {method} in {timeout}s; got {self.sent(method)}")
            time.sleep(0.1)

    def fail_next(self, *statuses: int, containing: str = "", method: str = "sendMessage") -> None:
        """Answer the next calls of ``method`` whose text contains ``containing`` with ``ERRORS[status]``, in turn.

        Targeted, so another message (a repeat or a resolved notification of
        another alert group) arriving at the same moment cannot take the failure.
        """
        unknown = [status for status in statuses if status not in ERRORS]
        if unknown:
            raise ValueError(f"no Telegram error body for HTTP {unknown}; known: {sorted(ERRORS)}")
        with self._lock:
            self._failures.extend((status, method, containing) for status in statuses)

    def enqueue(self, *updates: dict[str, Any]) -> list[int]:
        """Hand the bot ``updates`` (Update JSON); each gets the next ``update_id``, which are returned."""
        numbered = []
        with self._lock:
            for update in updates:
                self._update_id += 1
                self._updates.append({**update, "update_id": self._update_id})
                numbered.append(self._update_id)
            self._updated.notify_all()
        return numbered

    def pending(self) -> list[int]:
        """The ``update_id`` of every update not yet confirmed by a getUpdates ``offset``."""
        with self._lock:
            return [update["update_id"] for update in self._updates]

    def held(self) -> int:
        """How many getUpdates requests are being held (long polling) now; they are in ``calls`` once answered."""
        with self._lock:
            return self._held

    # --- the server ------------------------------------------------------------------------------------------------
    def _answer(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        match = _METHOD_PATH.fullmatch(path)
        if not match:
            return _error(404, "Not Found")
        method = match["method"]
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            status, answer = self._result(match["token"], method, params)
            self.calls.append(Call(method, params, status, time.monotonic()))
        return status, answer

    def _result(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The answer to one call; runs under the lock."""
        if token != self.token:
            return _error(401, "Unauthorized")
        if self._failures:
            status, failing, containing = self._failures[0]
            if method == failing and containing in _text(params):
                self._failures.popleft()
                return status, ERRORS[status]
        result: Any = True
        if method == "getMe":
            result = {
                **self._bot(),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        elif method == "getUpdates":
            return self._get_updates(params)
        elif method == "deleteWebhook" and str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        elif method.startswith(("send", "edit")):
            if method.startswith("edit") and "inline_message_id" in params:
                return 200, {"ok": True, "result": True}
            if params.get("chat_id") in (None, ""):
                return _error(400, "Bad Request: chat_id is empty")
            try:
                chat_id = int(params["chat_id"])
            except (TypeError, ValueError):
                return _error(400, "Bad Request: chat not found")
            if chat_id in self.missing_chats:
                return _error(400, "Bad Request: chat not found")
            for field in ("text", "caption"):
                if field in params:
                    try:
                        check(field, str(params[field]), params.get("parse_mode"))
                    except EntityError as refused:
                        return _error(400, str(refused))
            if method.startswith("send"):
                self._message_id += 1
                message_id = self._message_id
            else:
                message_id = int(params.get("message_id", 0))
            result = self._message(method, message_id, chat_id, params)
        return 200, {"ok": True, "result": result}

    def _get_updates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Long polling; runs under the lock, which ``wait`` releases while the request is held."""
        try:
            offset = int(params.get("offset") or 0)
            limit = int(params.get("limit") or 100)
            timeout = float(params.get("timeout") or 0)
            allowed = params.get("allowed_updates")
            if isinstance(allowed, str):
                allowed = json.loads(allowed) if allowed else None
        except ValueError as bad:
            return _error(400, f"Bad Request: {bad}")
        if allowed is not None:
            if not isinstance(allowed, list):
                return _error(400, "Bad Request: can't parse allowed_updates JSON array")
            self._allowed = [str(kind) for kind in allowed]
        if offset < 0:  # the last -offset updates; everything before them is forgotten
            while len(self._updates) > -offset:
                self._updates.popleft()
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()
        self._poll += 1
        mine = self._poll
        self._updated.notify_all()  # a poll already held is terminated by this one
        deadline = time.monotonic() + min(max(timeout, 0.0), MAX_POLL)
        while True:
            if self._allowed:
                self._updates = deque(u for u in self._updates if _kind(u) in self._allowed)
            if self._updates or self._closed:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._held += 1
            try:
                self._updated.wait(left)
            finally:
                self._held -= 1
            if self._poll != mine:
                return _error(409, CONFLICT)
        return 200, {"ok": True, "result": list(self._updates)[: min(max(limit, 1), 100)]}

    def _bot(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": BOT_NAME, "username": BOT_USERNAME}

    def _message(self, method: str, message_id: int, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        if chat_id > 0:
            chat = {"id": chat_id, "type": "private", "first_name": CLIENT_NAME}
        else:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            chat = {"id": chat_id, "title": CHAT_TITLE, "type": kind}
        now = int(time.time())
        message: dict[str, Any] = {"message_id": message_id, "from": self._bot(), "chat": chat, "date": now}
        for field in ("text", "caption"):
            if field in params:  # Telegram returns the text the user sees: markup parsed out
                message[field] = plain(str(params[field]), params.get("parse_mode"))
        if isinstance(params.get("document"), Upload):
            upload = params["document"]
            message["document"] = {
                "file_id": f"BQAC{message_id:08d}",
                "file_unique_id": f"AgAD{message_id:04d}",
                "file_name": upload.filename,
                "mime_type": upload.content_type,
                "file_size": len(upload.content),
            }
        if method.startswith("edit"):
            message["edit_date"] = now
        return message

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect of api.telegram.org
            disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
                params.update(_parse(self.headers.get("Content-Type", ""), self._body()))
                status, answer = api._answer(url.path, params)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up a long poll
                    self.wfile.write(payload)

            do_GET = do_POST

            def _body(self) -> bytes:
                if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
                    return self.rfile.read(int(self.headers.get("Content-Length", 0)))
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _kind(update: dict[str, Any]) -> str:
    """The update's type, as ``allowed_updates`` names it: the one key besides ``update_id``."""
    return next((key for key in update if key != "update_id"), "")


def _text(params: dict[str, Any]) -> str:
    return str(params.get("text", params.get("caption", "")))


def _parse(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        return dict(json.loads(body or b"{}"))
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        params: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            content = part.get_payload(decode=True)
            filename = part.get_filename()
            if filename is None:
                params[name] = content.decode(part.get_content_charset("utf-8"))
            else:
                params[name] = Upload(filename, content, part.get_content_type())
        return params
    return dict(parse_qsl(body.decode(), keep_blank_values=True))
