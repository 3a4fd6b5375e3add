"""What the CLI prints of client text cannot drive the terminal: no escape sequences, controls or bidi overrides."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdk_journal import sdk_journal

import botwatch
from botwatch.cli import main
from botwatch.terminal import NEWLINE_MARK, json_line, printable

SECRET = "terminal-test-secret-0123456789"
CLEAR = "\x1b[2J"
CLIPBOARD = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
LINK = "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"
RTL = "\u202e"
PAYLOADS = [CLEAR, CLIPBOARD, LINK, RTL, "\x9b31mred", "\x1bPq#0;2;0;0;0\x1b\\", "\x07\x08\x7f", "a\rb"]
# Anything a terminal acts on: C0 (newline aside) and C1 controls, DEL, bidi embeddings, overrides, isolates.
UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("terminal") / "journal.sqlite"
    with sdk_journal(path, "escape-bot", SECRET):
        with botwatch.conversation("esc-1", channel="telegram") as conv:
            for payload in PAYLOADS:
                with conv.turn(f"привет {payload} пока") as turn:
                    turn.intent("booking", confidence=0.2)  # names with controls are refused by the SDK
                    with turn.llm("gpt-4o-mini") as call:
                        call.usage(10, 5)
                    turn.reply(f"ответ {payload}\nвторая строка")
    return path


@pytest.fixture
def cli(journal, capsys, monkeypatch):
    monkeypatch.delenv("BOTWATCH_SOURCE", raising=False)

    def run(*args: str) -> str:
        code = main([*args, "--journal", str(journal)])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert not UNSAFE.search(out.err), out.err
        return out.out

    return run


def assert_inert(text: str) -> None:
    found = UNSAFE.search(text)
    assert found is None, (
        f"{found.group()!r} at {found.start()}: {text[max(0, found.start() - 40) : found.end() + 40]!r}"
    )


def test_replay_prints_the_text_without_its_escapes(cli, journal):
    recorded = sqlite_text(journal)
    assert CLEAR in recorded and CLIPBOARD in recorded and RTL in recorded  # the journal keeps what was said
    out = cli("replay", "esc-1")
    assert_inert(out)
    assert "привет click пока" in out  # OSC 8 gone, the visible word stays
    assert f"ответ red{NEWLINE_MARK}вторая строка" in out  # 8-bit CSI gone too
    assert f"ответ click{NEWLINE_MARK}вторая строка" in out  # one message, one line
    assert "ZWNobyBwd25lZA==" not in out and "evil.example" not in out


def sqlite_text(journal: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return "\n".join(str(body) for (body,) in conn.execute("SELECT body FROM logs WHERE body IS NOT NULL"))
    finally:
        conn.close()


def test_sessions_kpi_and_weekly_are_inert(cli):
    for args in (
        ("sessions", "--since", "1d"),
        ("kpi", "--since", "1d"),
        ("audit", "weekly", "--since", "1d"),
        ("audit", "sample", "--since", "1d"),
    ):
        assert_inert(cli(*args))


def test_json_output_is_lossless_and_inert(cli, journal):
    lines = cli("audit", "weekly", "--since", "1d", "--json").splitlines()
    assert_inert("\n".join(lines))
    texts = {json.loads(line)["text"] for line in lines}
    assert f"привет {CLIPBOARD} пока" in texts and f"привет {RTL} пока" in texts  # escaped, not lost
    sessions = cli("sessions", "--since", "1d", "--json").splitlines()
    assert_inert("\n".join(sessions)) and [json.loads(s)["conversation_id"] for s in sessions] == ["esc-1"]


def test_export_to_a_terminal_is_inert_and_to_a_file_is_exact(journal, tmp_path):
    env = {**os.environ, "BOTWATCH_SECRET": SECRET}
    export = [sys.executable, "-m", "botwatch.cli", "export", "--since", "1d", "--journal", str(journal)]
    for fmt in ("csv", "jsonl"):
        shown = on_a_terminal([*export, "--format", fmt, "--quiet"], env)
        assert_inert(shown.replace("\r\r\n", "\n").replace("\r\n", "\n"))  # CSV's CRLF, through the tty's ONLCR
        assert "click" in shown
    out = tmp_path / "e.jsonl"
    assert main([*export[3:], "--format", "jsonl", "--out", str(out), "--quiet"]) == 0
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert f"привет {CLIPBOARD} пока" in {e.get("text") for e in exported}  # a file keeps the text as recorded
    binary = on_a_terminal([*export, "--format", "xlsx"], env)
    assert "xlsx is a binary file: give --out FILE.xlsx" in binary


def on_a_terminal(cmd: list[str], env: dict[str, str]) -> str:
    """Everything ``cmd`` writes to a pseudo-terminal (stdout and stderr), as text."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(cmd, stdout=follower, stderr=follower, env=env, timeout=120, check=False)
    finally:
        os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert done.returncode in (0, 2)
    return b"".join(chunks).decode("utf-8")


# -- the function itself --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (CLEAR + "текст", "текст"),
        (CLIPBOARD + "x", "x"),
        (LINK, "click"),
        ("abc" + RTL + "def", "abcdef"),
        ("\u2066isolated\u2069", "isolated"),
        ("\x9b2Jx", "x"),
        ("\x9d52;c;QQ==\x9cy", "y"),
        ("unterminated \x1b]52;c;QQ==", "unterminated "),
        ("tab\there", "tab here"),
        ("one\r\ntwo\nthree\rfour", f"one{NEWLINE_MARK}two{NEWLINE_MARK}three{NEWLINE_MARK}four"),
        ("bell\x07 null\x00 del\x7f", "bell null del"),
        ("Запись на 12.05 в 18:00 — 1 500 ₽ 👍", "Запись на 12.05 в 18:00 — 1 500 ₽ 👍"),
    ],
)
def test_printable(raw, shown):
    assert printable(raw) == shown


def test_printable_keeps_newlines_when_asked():
    assert printable("a\r\nb\x1b[1mc", keep_newlines=True) == "a\nbc"


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_printable_output_is_always_inert_and_stable(text):
    shown = printable(text)
    assert not UNSAFE.search(shown) and "\n" not in shown
    assert printable(shown) == shown


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=200))
def test_printable_leaves_ordinary_text_alone(text):
    ordinary = re.sub(r"[\u2028\u2029\u202a-\u202e\u2066-\u2069]", "", text)
    assert printable(ordinary) == ordinary


@given(
    st.recursive(
        st.none() | st.text(max_size=50) | st.integers(),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
        max_leaves=20,
    )
)
def test_json_line_is_lossless_and_inert(value):
    line = json_line(value)
    assert json.loads(line) == value
    assert not UNSAFE.search(line) and "\n" not in line
