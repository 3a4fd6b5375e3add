"""Alertmanager with the repo's alerts/alertmanager.yml.

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
import yaml

from harness.binaries import REPO
from harness.ports import free_port
from harness.processes import ManagedProcess, http_ok

CONFIG = REPO / "alerts" / "alertmanager.yml"
FAKE_TOKEN = "123456789:botwatch-harness-token"
FAKE_CHAT_ID = -1001234567


def render_config(source: Path, workdir: Path, telegram_api_url: str, bot_token: str = FAKE_TOKEN) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    config["templates"] = [str((source.parent / t).resolve()) for t in config.get("templates", [])]
    token_file = workdir / "telegram_bot_token"
    token_file.write_text(bot_token)
    for receiver in config.get("receivers", []):
        for telegram in receiver.get("telegram_configs", []):
            telegram["api_url"] = telegram_api_url
            telegram["chat_id"] = FAKE_CHAT_ID
            telegram.pop("bot_token", None)
            telegram["bot_token_file"] = str(token_file)
    return config


class Alertmanager:
    def __init__(
        self,
        binary: Path,
        workdir: Path,
        port: int,
        telegram_api_url: str | None = None,
        config: Path = CONFIG,
        bot_token: str = FAKE_TOKEN,
    ) -> None:
        self.port = port
        workdir.mkdir(parents=True, exist_ok=True)
        api_url = telegram_api_url or f"http://127.0.0.1:{free_port()}"  # nothing listens there
        self.config_path = workdir / "alertmanager.yml"
        self.config_path.write_text(yaml.safe_dump(render_config(config, workdir, api_url, bot_token), sort_keys=False))
        self.process = ManagedProcess(
            "alertmanager",
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip port: a single instance
                "--log.level=warn",
            ],
            log_path=workdir / "alertmanager.log",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.process.start()
        self.process.wait_until(lambda: http_ok(f"{self.url}/-/ready"), timeout, what="ready")

    def stop(self) -> int | None:
        return self.process.stop()

    def alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        return list(response.json())
