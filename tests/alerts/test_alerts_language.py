"""The Telegram alert's own words: Russian by default, English behind the one setting, rendered by amtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness import binaries

TEMPLATE = binaries.REPO / "alerts" / "templates" / "telegram.tmpl"
SETTING = '{{- $lang := "ru" -}}'


def render(amtool: str, template: Path) -> str:
    result = subprocess.run(
        [
            amtool,
            "template",
            "render",
            f"--template.glob={template}",
            '--template.text={{ template "botwatch.telegram.message" . }}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_one_setting_switches_the_words_and_nothing_else(amtool, tmp_path):
    source = TEMPLATE.read_text()
    assert source.count(SETTING) == 1
    russian = render(amtool, TEMPLATE)
    for word in ("— РЕШЕНО", "Статус: тревога", "Статус: решено", ">Дашборд</a>"):
        assert word in russian, (word, russian)
    english_template = tmp_path / "telegram.tmpl"
    english_template.write_text(source.replace(SETTING, SETTING.replace('"ru"', '"en"')))
    english = render(amtool, english_template)
    for word in ("— RESOLVED", "Status: firing", "Status: resolved", ">Dashboard</a>"):
        assert word in english, (word, english)
    assert not re.search(r"[А-Яа-яЁё]", english), english
    # The rest of the message is the same: only the words differ.
    assert len(english.splitlines()) == len(russian.splitlines())
