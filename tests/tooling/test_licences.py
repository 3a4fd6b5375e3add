"""Every dependency botwatch pulls (Python, the Go modules in the built binaries, npm) is permissively licensed.

scripts/licences.py reads what is really installed and built; this runs it and
proves it would catch an AGPL or GPL dependency.  The README's licence table
is its ``--summary`` output.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from harness.binaries import REPO, collector_binary

_spec = importlib.util.spec_from_file_location("licences", REPO / "scripts" / "licences.py")
assert _spec and _spec.loader
licences = importlib.util.module_from_spec(_spec)
sys.modules["licences"] = licences
_spec.loader.exec_module(licences)


def test_every_dependency_is_permissive(capsys: pytest.CaptureFixture[str]) -> None:
    collector_binary()  # the Go side is read from the built binaries: skip (fail in CI) without them
    code = licences.main(["--summary"])
    out, err = capsys.readouterr()
    print(out)
    assert code == 0, err
    counts = {
        line.split(":")[0]: int(line.split(":")[1].split()[0]) for line in out.splitlines() if " packages — " in line
    }
    assert counts["python"] > 50 and counts["go"] > 100, counts  # everything was read, not just a few


@pytest.mark.parametrize(
    ("licence", "ecosystem", "expected"),
    [
        ("AGPL-3.0-only", "go", "copyleft"),
        ("GNU Affero General Public License v3", "python", "copyleft"),
        ("GPL-3.0-or-later", "npm", "copyleft"),
        ("GPL", "go", "copyleft"),
        ("LGPL-3.0-only", "go", "copyleft"),
        ("LGPL-3.0-only", "python", "ok"),  # imported, never vendored or linked statically
        ("SSPL-1.0", "go", "copyleft"),
        ("Apache-2.0", "go", "ok"),
        ("MPL-2.0", "go", "ok"),
        ("", "npm", "unknown"),
        ("Proprietary", "python", "unknown"),
    ],
)
def test_verdict(licence: str, ecosystem: str, expected: str) -> None:
    assert licences.verdict(licence, ecosystem) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007", "AGPL"),
        ("GNU GENERAL PUBLIC LICENSE\nVersion 2, June 1991", "GPL"),
        ("Mozilla Public License Version 2.0 ... GNU General Public License ...", "MPL-2.0"),
        ("Apache License\nVersion 2.0, January 2004", "Apache-2.0"),
        ("Permission is hereby granted, free of charge, to any person", "MIT"),
    ],
)
def test_go_licence_files_are_classified_by_their_text(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "LICENSE").write_text(text)
    assert licences._licence_file(tmp_path) == expected
