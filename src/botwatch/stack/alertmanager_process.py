"""Alertmanager with the repo's alerts/alertmanager.yml.

The copy it runs differs only where a user's deployment differs: template
paths made absolute (the copy lives elsewhere), the Telegram ``api_url``,
``bot_token_file`` and ``chat_id``.  Routing, grouping and inhibition stay as
written; with a tenants file each tenant gets its own receiver and route
(botwatch.stack.tenant_routes).  Without a token file the Telegram receivers are left without
``telegram_configs``: alerts are kept and shown, nothing is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from botwatch.stack import tenant_routes, yamlfile
from botwatch.stack.binaries import REPO
from botwatch.stack.processes import LocalService, ManagedProcess

if TYPE_CHECKING:
    from botwatch.tenants import Tenants

CONFIG = REPO / "alerts" / "alertmanager.yml"


def render_config(
    source: Path,
    telegram_api_url: str | None,
    token_file: Path | None,
    chat_id: int | str | None,
) -> dict[str, Any]:
    config: dict[str, Any] = yamlfile.load(source)
    config["templates"] = [str((source.parent / t).resolve()) for t in config.get("templates", [])]
    for receiver in config.get("receivers", []):
        if "telegram_configs" not in receiver:
            continue
        if token_file is None:
            del receiver["telegram_configs"]
            continue
        for telegram in receiver["telegram_configs"]:
            if telegram_api_url:
                telegram["api_url"] = telegram_api_url
            if chat_id is not None:
                telegram["chat_id"] = int(chat_id)
            telegram.pop("bot_token", None)
            telegram["bot_token_file"] = str(Path(token_file).resolve())
    return config


class Alertmanager(LocalService):
    def __init__(
        self,
        binary: Path,
        workdir: Path,
        port: int,
        telegram_api_url: str | None,
        token_file: Path | None,
        chat_id: int | str | None,
        config: Path = CONFIG,
        detached: bool = False,
        tenants: Tenants | None = None,
    ) -> None:
        self.port = port
        self.config_path = workdir / "alertmanager.yml"
        rendered = render_config(config, telegram_api_url, token_file, chat_id)
        if tenants is not None:
            rendered = tenant_routes.apply(rendered, tenants)
        yamlfile.dump(rendered, self.config_path)
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
            detached=detached,
        )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"
