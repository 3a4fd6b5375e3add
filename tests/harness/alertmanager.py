"""Alertmanager with the repo's alerts/alertmanager.yml (botwatch.stack.alertmanager_process), set up for tests.

The copy it runs differs only where a user's deployment differs: template
paths made absolute (the copy lives elsewhere), the Telegram ``api_url`` (a
local fake when a test passes one, else a closed local port so nothing
leaves the machine), ``bot_token_file`` (a temp file with a fake token) and
``chat_id``.  Routing, grouping and inhibition stay as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from botwatch.stack import alertmanager_process as _stack
from botwatch.stack.alertmanager_process import CONFIG
from harness.ports import free_port

__all__ = ["CONFIG", "FAKE_CHAT_ID", "FAKE_TOKEN", "Alertmanager", "render_config"]

FAKE_TOKEN = "123456789:botwatch-harness-token"
FAKE_CHAT_ID = -1001234567


def _token_file(workdir: Path, bot_token: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    token_file = workdir / "telegram_bot_token"
    token_file.write_text(bot_token)
    return token_file


def render_config(source: Path, workdir: Path, telegram_api_url: str, bot_token: str = FAKE_TOKEN) -> dict[str, Any]:
    return _stack.render_config(source, telegram_api_url, _token_file(workdir, bot_token), FAKE_CHAT_ID)


class Alertmanager(_stack.Alertmanager):
    def __init__(
        self,
        binary: Path,
        workdir: Path,
        port: int,
        telegram_api_url: str | None = None,
        config: Path = CONFIG,
        bot_token: str = FAKE_TOKEN,
    ) -> None:
        super().__init__(
            binary,
            workdir,
            port,
            telegram_api_url=telegram_api_url or f"http://127.0.0.1:{free_port()}",  # nothing listens there
            token_file=_token_file(workdir, bot_token),
            chat_id=FAKE_CHAT_ID,
            config=config,
        )

    def alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        return list(response.json())
