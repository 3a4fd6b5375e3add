"""Send the owner's Telegram chat a message (``sendMessage``) and a file (``sendDocument``).

Configured like the alerts' receiver: the Bot API base URL (a self-hosted
Bot API server or, in tests, a local fake), a token file, a chat id.  A
tenant's reports go to the chat (and forum topic: ``message_thread_id``) its
tenants file names; the token and the URL stay the environment's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import requests

from botwatch import env
from botwatch.audit.audit_errors import SourceError, UsageError
from botwatch.masking.logfilter import hide_secrets_in_http_logs

ENV_API_URL = env.TELEGRAM_API_URL.name
ENV_TOKEN_FILE = env.TELEGRAM_TOKEN_FILE.name
ENV_CHAT_ID = env.TELEGRAM_CHAT_ID.name
DEFAULT_API_URL = "https://api.telegram.org"


@dataclass(frozen=True)
class TelegramTarget:
    api_url: str
    token: str
    chat_id: str
    thread_id: int | None = None  # a topic of a forum group

    @classmethod
    def from_env(cls) -> TelegramTarget:
        """The bot and the chat of the environment."""
        chat_id = env.TELEGRAM_CHAT_ID.text() or ""
        if not env.TELEGRAM_TOKEN_FILE.is_set() or not chat_id:
            raise UsageError(f"--telegram needs {ENV_TOKEN_FILE} (a file with the bot token) and {ENV_CHAT_ID}")
        return cls.bot_from_env(chat_id)

    @classmethod
    def bot_from_env(cls, chat_id: str = "") -> TelegramTarget:
        """The environment's bot (token file, API URL) writing to ``chat_id``; ``to()`` picks another chat."""
        token_file = env.TELEGRAM_TOKEN_FILE.text() or ""
        if not token_file:
            raise UsageError(f"--telegram needs {ENV_TOKEN_FILE} (a file with the bot token)")
        try:
            token = Path(token_file).read_text().strip()
        except OSError as error:
            raise UsageError(f"cannot read the bot token from {token_file} ({error.strerror})") from error
        if not token:
            raise UsageError(f"the token file {token_file} is empty; put the @BotFather token in it")
        return cls((env.TELEGRAM_API_URL.text() or DEFAULT_API_URL).rstrip("/"), token, chat_id)

    def to(self, chat_id: int | str, thread_id: int | None = None) -> TelegramTarget:
        """The same bot writing to another chat (and topic)."""
        return dataclasses.replace(self, chat_id=str(chat_id), thread_id=thread_id)

    def _chat(self) -> dict[str, str]:
        chat = {"chat_id": self.chat_id}
        if self.thread_id is not None:
            chat["message_thread_id"] = str(self.thread_id)
        return chat


def send_message(target: TelegramTarget, text: str) -> None:
    """``sendMessage`` with ``parse_mode=HTML``: the caller keeps ``text`` valid Telegram HTML under 4096."""
    _call(target, "sendMessage", {**target._chat(), "text": text, "parse_mode": "HTML"}, None, "summary")


def send_document(target: TelegramTarget, name: str, content: bytes, caption: str) -> None:
    files = {"document": (name, content, "text/html")}
    _call(target, "sendDocument", {**target._chat(), "caption": caption[:1024]}, files, "report")


def _call(
    target: TelegramTarget,
    method: str,
    data: dict[str, str],
    files: dict[str, tuple[str, bytes, str]] | None,
    what: str,
) -> None:
    url = f"{target.api_url}/bot{target.token}/{method}"
    where = target.api_url  # never print the URL with the token in it
    hide_secrets_in_http_logs()  # nor let urllib3 log it
    try:
        response = requests.post(url, data=data, files=files, timeout=60)
    except requests.RequestException as error:
        raise SourceError(f"Telegram Bot API at {where} is not reachable ({type(error).__name__})") from error
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("ok") is not True:
        description = body.get("description") if isinstance(body, dict) else None
        raise SourceError(
            f"Telegram Bot API at {where} refused the {what} (HTTP {response.status_code}"
            + (f": {description}" if description else "")
            + ")"
        )
