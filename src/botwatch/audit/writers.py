"""``botwatch export`` files a person opens: CSV and xlsx that show client text as text, and JSON lines.

Any client of a bot controls the text in an export, so a cell starting with
``=``, ``+``, ``-``, ``@``, TAB or CR (leading blanks aside, NBSP and line
breaks included: importers may trim them) gets a ``'`` in front, OWASP's rule against CSV formula injection; masked
phones (``+7 *** ***-98-77``) get it too.  CSV is UTF-8 with a BOM (Excel
otherwise reads it as cp1251) and ``;``-separated by default: Excel in a Russian
locale splits on ``;`` (the comma is its decimal separator), so with ``;``
decimals are written with a comma too.  xlsx cells are typed strings, never
formulas.  JSON lines are the gateway's event shape, unchanged.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol

from botwatch.audit.audit_errors import UsageError
from botwatch.audit.export import FIELDS, Row, iso_row
from botwatch.extras import require
from botwatch.terminal import json_line, printable

BOM = "\ufeff".encode()
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DELIMITERS = {"semicolon": ";", "comma": ",", "tab": "\t"}
DEFAULT_DELIMITER = "semicolon"
XLSX_MAX_ROWS = 1_048_576  # Excel's limit, header included
# XML 1.0 cannot carry these; openpyxl refuses them, so they become U+FFFD
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CR = re.compile(r"\r\n?")  # XML readers turn CR into LF anyway; LF is Excel's line break in a cell


_FORMULA_START = frozenset(FORMULA_START)


def spreadsheet_text(text: str) -> str:
    """``text`` as a spreadsheet shows it literally: ``'`` in front when it could start a formula."""
    first = text[:1]
    if first in _FORMULA_START:
        return "'" + text
    if first.isspace():  # importers may trim any leading blank (NBSP and line breaks too)
        rest = text.lstrip()
        if rest[:1] in _FORMULA_START or any(c in "\t\r" for c in text[: len(text) - len(rest)]):
            return "'" + text
    return text


def xlsx_text(text: str) -> str:
    """``text`` as an xlsx string cell can hold it: CR as LF, characters XML forbids as U+FFFD."""
    return _NOT_IN_XML.sub("\ufffd", _CR.sub("\n", text))


class RowWriter(Protocol):
    def write(self, row: Row) -> None: ...

    def close(self) -> None: ...


class _Utf8:
    """The text side of a binary stream, for csv.writer (never closes the stream it writes to)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(text.encode("utf-8"))
        return len(text)


class CsvWriter:
    """UTF-8 with BOM, header first, every text cell formula-safe."""

    def __init__(self, out: BinaryIO, *, delimiter: str = DEFAULT_DELIMITER, for_terminal: bool = False) -> None:
        self._text = _Utf8(out)
        out.write(BOM)
        separator = DELIMITERS[delimiter]
        self._decimal_comma = separator == ";"
        self._for_terminal = for_terminal
        self._clean: Callable[[str], str] = printable if for_terminal else str
        self._writer = csv.writer(self._text, delimiter=separator, lineterminator="\r\n")
        self._writer.writerow(FIELDS)

    def write(self, row: Row) -> None:
        self._writer.writerow([self._cell(v) for v in iso_row(row).values()])

    def _cell(self, value: Any) -> str:
        kind = type(value)
        if kind is str:
            return spreadsheet_text(self._clean(value) if self._for_terminal else value)
        if value is None:
            return ""
        if kind is int or kind is float:
            return str(value).replace(".", ",") if self._decimal_comma else str(value)
        return spreadsheet_text(self._clean(str(value)))

    def close(self) -> None:
        self._text.out.flush()


class JsonlWriter:
    """One JSON object per line; on a terminal, controls and bidi characters as ``\\u`` escapes."""

    def __init__(self, out: BinaryIO, *, for_terminal: bool = False, **_: Any) -> None:
        self._out = out
        self._dump: Callable[[Any], str] = (
            json_line if for_terminal else lambda d: json.dumps(d, ensure_ascii=False, separators=(",", ":"))
        )

    def write(self, row: Row) -> None:
        flat = iso_row(row)
        phone = flat.pop("client_phone")
        data = {k: v for k, v in flat.items() if v is not None}
        if phone:
            data["client"] = {"phone": phone}
        self._out.write((self._dump(data) + "\n").encode("utf-8"))

    def close(self) -> None:
        self._out.flush()


class XlsxWriter:
    """One ``events`` sheet, streamed (openpyxl's write-only mode); text cells typed as strings."""

    def __init__(self, out: BinaryIO, *, for_terminal: bool = False, **_: Any) -> None:
        if for_terminal:
            raise UsageError("xlsx is a binary file: give --out FILE.xlsx (or redirect the output)")
        openpyxl = require("openpyxl", extra="xlsx", feature="botwatch export --format xlsx")
        self._cell_type = require("openpyxl.cell", extra="xlsx", feature="botwatch export --format xlsx").WriteOnlyCell
        self._out = out
        self._book = openpyxl.Workbook(write_only=True)
        self._sheet = self._book.create_sheet("events")
        self._rows = 0
        self._append(FIELDS)

    def write(self, row: Row) -> None:
        if self._rows >= XLSX_MAX_ROWS:
            raise UsageError(
                f"more than {XLSX_MAX_ROWS - 1:,} events, Excel's limit for one sheet: "
                "use --format csv or a shorter --since".replace(",", " ")
            )
        self._append(iso_row(row).values())

    def _append(self, values: Any) -> None:
        self._sheet.append([self._cell(v) for v in values])
        self._rows += 1

    def _cell(self, value: Any) -> Any:
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value
        cell = self._cell_type(self._sheet, value=xlsx_text(str(value)))
        cell.data_type = "s"  # "=SUM(...)" stays text: openpyxl would otherwise store a formula
        return cell

    def close(self) -> None:
        self._book.save(self._out)
        self._out.flush()


WRITERS: dict[str, Callable[..., RowWriter]] = {"csv": CsvWriter, "jsonl": JsonlWriter, "xlsx": XlsxWriter}
