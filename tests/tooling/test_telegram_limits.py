"""The local Bot API refuses what api.telegram.org refuses: unparsable HTML and over-long texts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from telegram_api import TOKEN, BotAPI

CHAT = -1001234567


@pytest.fixture(scope="module")
def api() -> Iterator[BotAPI]:
    server = BotAPI()
    yield server
    server.close()


def send(api: BotAPI, method: str = "sendMessage", **params: Any) -> tuple[int, dict[str, Any]]:
    response = requests.post(f"{api.url}/bot{TOKEN}/{method}", json={"chat_id": CHAT, **params}, timeout=10)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>bold</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("plain</b>", "Unexpected end tag at byte offset 5"),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ('Трейс <a href="https://grafana.example.com/explore?left=%7B', "Unclosed start tag"),
        ("Маникюр & педикюр", "Unsupported HTML entity at byte offset 15"),
        ("&nbsp;", "Unsupported HTML entity at byte offset 0"),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ],
)
def test_unparsable_html_is_400_cant_parse_entities(api: BotAPI, text: str, reason: str) -> None:
    status, answer = send(api, text=text, parse_mode="HTML")
    assert status == 400 and answer["ok"] is False and answer["error_code"] == 400
    assert answer["description"].startswith("Bad Request: can't parse entities: "), answer
    assert reason in answer["description"], answer
    assert not api.sent() or all(params["text"] != text for params in api.sent())


def test_valid_html_is_sent_and_shown_without_markup(api: BotAPI) -> None:
    text = '<b>Бот</b> &lt;salon&gt; &amp; &quot;x&quot; &#34;y&#x22; <a href="https://e.x/?a=1&amp;b=2">ссылка</a>'
    status, answer = send(api, text=text, parse_mode="HTML")
    assert status == 200, answer
    assert answer["result"]["text"] == 'Бот <salon> & "x" "y" ссылка'


def test_length_is_counted_after_parsing(api: BotAPI) -> None:
    visible = "я" * 4096
    status, answer = send(api, text=f"<b>{visible[:10]}</b>{visible[10:]}", parse_mode="HTML")
    assert status == 200, answer  # 4103 characters of HTML, 4096 shown
    status, answer = send(api, text=visible + "я", parse_mode="HTML")
    assert (status, answer["description"]) == (400, "Bad Request: message is too long")
    status, answer = send(api, text="x" * 4095 + "🔴")  # an emoji outside the BMP counts 2
    assert (status, answer["description"]) == (400, "Bad Request: message is too long")
    status, answer = send(api, text="<b></b>", parse_mode="HTML")
    assert (status, answer["description"]) == (400, "Bad Request: message text is empty")


def test_caption_limit(api: BotAPI) -> None:
    status, answer = send(api, "sendPhoto", photo="AgAD0001", caption="к" * 1025)
    assert (status, answer["description"]) == (400, "Bad Request: message caption is too long")
    status, _ = send(api, "sendPhoto", photo="AgAD0001", caption="к" * 1024)
    assert status == 200
