"""The real Alertmanager sends our Telegram message to a local Telegram Bot API (``telegram_api.BotAPI``).

Alertmanager (the pinned build from alerts/build-alertmanager.sh) runs with a
copy of alerts/alertmanager.yml in which only what a user edits is changed:
`api_url` (here the local fake), `bot_token_file`, `chat_id`, and shorter
group timings. Alerts are posted to its API as Prometheus would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.alert_stack import TOKEN
from harness.paths import REPO
from telegram_api import BotAPI

ALERTS = REPO / "alerts"
CHAT_ID = -1001234567
pytestmark = pytest.mark.stack


def _alertmanager_binary() -> str:
    cache = Path(os.environ.get("BOTWATCH_CACHE", Path.home() / ".cache" / "botwatch"))
    binary = cache / "bin" / "alertmanager"
    if binary.is_file():
        return str(binary)
    message = f"{binary} not found: run alerts/build-alertmanager.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


# --- a real Alertmanager ----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp: Path, api_url: str, token_file: Path) -> Path:
    """alerts/alertmanager.yml with the fields a user sets, and short timings."""
    config = yaml.safe_load((ALERTS / "alertmanager.yml").read_text())
    config["templates"] = [str(ALERTS / "templates" / "*.tmpl")]
    telegram = config["receivers"][0]["telegram_configs"][0]
    telegram.update(api_url=api_url, bot_token_file=str(token_file), chat_id=CHAT_ID)
    for route in [config["route"], *config["route"].get("routes", [])]:
        route.update(group_wait="1s", group_interval="1s")
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


class Alertmanager:
    def __init__(self, config: Path, tmp: Path, command: list[str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.log = tmp / "alertmanager.log"
        args = [
            f"--config.file={config}",
            f"--storage.path={tmp / 'data'}",
            f"--web.listen-address={self.url.removeprefix('http://')}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*(command or [_alertmanager_binary()]), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ALERTMANAGER_BIN": _alertmanager_binary()},
            )

    def wait_ready(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"Alertmanager not ready in {timeout}s:\n{self.log.read_text()}")

    def post(self, *alerts: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(list(alerts)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def alert(name: str, severity: str, resolved: bool = False, **labels_and_annotations: str) -> dict[str, Any]:
    """An alert as Prometheus posts it: lower-case keys are labels, `a_*` annotations."""
    now = datetime.now(UTC)
    labels = {"alertname": name, "severity": severity}
    annotations = {}
    for key, value in labels_and_annotations.items():
        if key.startswith("a_"):
            annotations[key.removeprefix("a_")] = value
        else:
            labels[key] = value
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": now.replace(minute=0).isoformat(),
        "generatorURL": "http://prometheus:9090/graph",
    }
    if resolved:
        body["endsAt"] = now.isoformat()
    return body


@pytest.fixture(scope="module")
def telegram() -> Iterator[BotAPI]:
    api = BotAPI(TOKEN)
    yield api
    api.close()


@pytest.fixture(scope="module")
def alertmanager(telegram: BotAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    tmp = tmp_path_factory.mktemp("alertmanager")
    token_file = tmp / "telegram_bot_token"
    token_file.write_text(TOKEN + "\n")
    am = Alertmanager(_config(tmp, telegram.url, token_file), tmp)
    am.wait_ready()
    yield am
    am.stop()


SLA = {
    "job": "salon-bot",
    "botwatch_channel": "whatsapp",
    "a_summary": "Бот salon-bot массово отвечает дольше 3 с в канале whatsapp",
    "a_description": 'За 5 минут 30% ответов заняли больше 3 секунд (error_type="timeout" <b>)',
    "a_value": "30%",
    "a_dashboard": "botwatch-overview",
    "a_trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "a_runbook_url": "https://github.com/botwatch/botwatch/blob/main/alerts/RUNBOOK.md#botwatchresponseslabreach",
}


def test_alert_reaches_telegram_as_html_then_resolves(alertmanager: Alertmanager, telegram: BotAPI) -> None:
    alertmanager.post(
        alert("Watchdog", "none"),
        alert("BotwatchResponseSLABreach", "warning", **{**SLA, "a_value": "10%"}),
        alert("BotwatchResponseSLABreach", "critical", **SLA),
    )
    message = telegram.wait_for(lambda text: "BotwatchResponseSLABreach</b> — ТРЕВОГА" in text)
    text = message["text"]
    assert message["parse_mode"] == "HTML"
    assert int(message["chat_id"]) == CHAT_ID
    assert text.startswith("🔴 <b>BotwatchResponseSLABreach</b> — ТРЕВОГА")
    assert "<b>Бот salon-bot массово отвечает дольше 3 с в канале whatsapp</b>" in text
    assert "(error_type=&#34;timeout&#34; &lt;b&gt;)" in text  # label/annotation text is escaped
    assert "Сервис: <code>salon-bot</code>" in text
    assert "Канал: <code>whatsapp</code>" in text
    assert "Значение: <b>30%</b>" in text
    assert "/d/botwatch-overview?var-job=salon-bot&amp;var-channel=whatsapp" in text
    assert "Трейс 4bf92f3577b34da6a3ce929d0e0e4736</a>" in text
    assert urllib.parse.quote('"query":"4bf92f3577b34da6a3ce929d0e0e4736"', safe="") in text
    assert 'href="https://github.com/botwatch/botwatch/blob/main/alerts/RUNBOOK.md#botwatchresponseslabreach"' in text
    # The critical alert inhibits the warning of the same bot and channel.
    assert "Статус: тревога · critical" in text
    assert "· warning" not in text and "10%" not in text

    alertmanager.post(
        alert("BotwatchResponseSLABreach", "warning", resolved=True, **SLA),
        alert("BotwatchResponseSLABreach", "critical", resolved=True, **SLA),
    )
    resolved = telegram.wait_for(lambda text: "BotwatchResponseSLABreach</b> — РЕШЕНО" in text)
    assert resolved["text"].startswith("✅ <b>BotwatchResponseSLABreach</b> — РЕШЕНО")
    assert "Статус: решено · critical" in resolved["text"]

    # Watchdog goes to the heartbeat receiver, never to the owner's phone.
    assert not any("Watchdog" in m["text"] for m in telegram.sent())


@pytest.mark.parametrize("status", [429, 500])
def test_message_arrives_after_telegram_error(status: int, alertmanager: Alertmanager, telegram: BotAPI) -> None:
    job = f"bot-after-{status}"
    telegram.fail_next(status, containing=f"<code>{job}</code>")
    alertmanager.post(
        alert(
            "BotwatchLeadCreationFailing",
            "critical",
            job=job,
            botwatch_crm_system="bitrix24",
            a_summary=f"Бот {job} не может создать лиды в bitrix24",
            a_description="За 5 минут не создано 3 лидов",
            a_value="50%",
        )
    )
    message = telegram.wait_for(lambda text: f"<code>{job}</code>" in text)
    assert "CRM: <code>bitrix24</code>" in message["text"]
    tries = [c.status for c in telegram.calls if f"<code>{job}</code>" in str(c.params.get("text"))]
    assert tries[0] == status and tries[-1] == 200, tries


def test_missing_token_file_is_a_clear_error(tmp_path: Path, telegram: BotAPI) -> None:
    missing = tmp_path / "secrets" / "telegram_bot_token"
    config = _config(tmp_path, telegram.url, missing)

    # Our launcher refuses to start, naming the file and the fix.
    result = subprocess.run(
        [str(ALERTS / "start-alertmanager.sh"), f"--config.file={config}"],
        capture_output=True,
        text=True,
        timeout=10,
        env={**os.environ, "ALERTMANAGER_BIN": _alertmanager_binary()},
        check=False,
    )
    assert result.returncode == 1
    assert f"Telegram bot token file {missing} (bot_token_file in {config}) is missing or empty" in result.stderr
    assert "@BotFather" in result.stderr

    # Alertmanager itself reads the file only when sending: it starts, then
    # every notification attempt logs why it failed.
    am = Alertmanager(config, tmp_path)
    try:
        am.wait_ready()
        am.post(alert("BotwatchLeadCreationFailing", "critical", job="salon-bot", botwatch_crm_system="bitrix24"))
        expected = f"could not read {missing}: open {missing}: no such file or directory"
        deadline = time.monotonic() + 15
        while expected not in am.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert expected in am.log.read_text()
    finally:
        am.stop()


# --- any group fits one Telegram message -------------------------------------------------
LONG_JOB = "салон/" + "бот-записи-" * 8  # 94 characters, Cyrillic and a slash: long once URL-escaped


def _long_alert(name: str, number: int, resolved: bool = False) -> dict[str, Any]:
    return alert(
        name,
        "critical",
        resolved=resolved,
        job=LONG_JOB,
        botwatch_channel="whats&app+" * 10,
        botwatch_crm_system="Битрикс&24 " * 10,
        botwatch_intent=f"intent-{number:03d}-" + "x" * 60,
        a_summary=f"Алерт {number}: " + 'бот отвечает дольше 3 с <b> & "кавычки" ' * 8,
        a_description="Подробности & <теги> " * 60,
        a_value="& <" * 30,
        a_dashboard="botwatch-overview",
        a_trace_id=f"{number:032x}",
        a_runbook_url="https://github.com/botwatch/botwatch/blob/main/alerts/RUNBOOK.md#" + "section-" * 12,
    )


@pytest.mark.parametrize("size", [1, 10, 50])
def test_any_group_is_one_valid_message_under_4096(size: int, alertmanager: Alertmanager, telegram: BotAPI) -> None:
    name = f"BotwatchGroupOf{size}"
    alertmanager.post(*(_long_alert(name, number) for number in range(size)))
    # The alerts started an hour ago, so Alertmanager sends at once what it has, then the whole group.
    header = f"{name}</b> — ТРЕВОГА" + (f" ({size})" if size > 1 else "")
    firing = telegram.wait_for(lambda text: header in text)["text"]
    alertmanager.post(*(_long_alert(name, number, resolved=True) for number in range(size)))
    resolved = telegram.wait_for(lambda text: f"{name}</b> — РЕШЕНО" in text)["text"]

    mine = [call for call in telegram.calls if name in str(call.params.get("text", ""))]
    assert [call.status for call in mine if call.status != 200] == [], [call.params["text"][-300:] for call in mine]
    for text in (firing, resolved):
        assert len(text) <= 4096, len(text)  # what Alertmanager would otherwise cut, mid-tag
        assert "Трейс 00000000000000000000000000000000</a>" in text  # the first alert keeps its links
        assert "Что делать</a>" in text and "Дашборд</a>" in text
        if size > 5:
            assert f"… и ещё {size - 5} (всего {size})" in text
        else:
            assert "и ещё" not in text
    assert "&amp; &lt;теги&gt;" in firing and "…" in firing  # escaped, and shortened
