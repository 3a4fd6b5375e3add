"""``botwatch audit weekly``: a summary per intent, then one page of turns, and the command for the next page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from botwatch.cli import main


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weekly") / "journal.sqlite"
    mp = pytest.MonkeyPatch()
    mp.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    mp.setenv("BOTWATCH_SECRET", "weekly-test-secret-0123456789")
    try:
        assert main(["demo", "-n", "80", "--seed", "7", "--faults", "low_confidence=0.5", "--journal", str(path)]) == 0
    finally:
        mp.undo()
    return path


def weekly(capsys, journal: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["audit", "weekly", "--since", "8d", "--source", "journal", "--journal", str(journal), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_pages_cover_every_turn_once_in_order(journal, capsys):
    code, out, _ = weekly(capsys, journal, "--json", "--limit", "0")
    every = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(every) > 45  # more than two pages of 20
    seen = []
    for page in range(1, 100):
        code, out, err = weekly(capsys, journal, "--json", "--page", str(page))
        if code != 0:
            assert f"--page {page}: there are {page - 1} pages of 20 turns ({len(every)} turns)" in err
            break
        lines = [json.loads(line) for line in out.splitlines()]
        assert 0 < len(lines) <= 20
        seen += lines
    assert seen == every


def test_text_is_a_summary_and_one_page(journal, capsys):
    _, out, _ = weekly(capsys, journal, "--json", "--limit", "0")
    every = [json.loads(line) for line in out.splitlines()]
    code, text, _ = weekly(capsys, journal, "--limit", "5", "--page", "2")
    assert code == 0
    head = re.search(r"last 8 days: (\d+) turns in (\d+) conversations", text)
    assert head and int(head[1]) == len(every) and int(head[2]) == len({t["conversation_id"] for t in every})
    per_intent = {m[1]: int(m[2]) for m in re.finditer(r"^  (\w+)\s+(\d+) turns  mean", text, re.M)}
    assert sum(per_intent.values()) == len(every)
    pages = -(-len(every) // 5)
    assert f"Turns 6–10 of {len(every)} (page 2 of {pages}), oldest first:" in text
    listed = re.findall(r"^  \d{4}-\d\d-\d\d \d\d:\d\d  (\S+)  turn (\d+)", text, re.M)
    assert listed == [(t["conversation_id"], str(t["turn_index"])) for t in every[5:10]]
    assert "Next page: botwatch audit weekly --since 8d --limit 5 --page 3" in text
    assert len(text.splitlines()) < 40  # not one line per turn of the week
    code, last, _ = weekly(capsys, journal, "--limit", "5", "--page", str(pages))
    assert code == 0 and "Next page" not in last


@pytest.mark.parametrize("args", [("--page", "0"), ("--limit", "-1")])
def test_bad_paging_is_a_usage_error(journal, capsys, args):
    code, out, err = weekly(capsys, journal, *args)
    assert code == 2 and out == "" and "--page must be at least 1" in err
