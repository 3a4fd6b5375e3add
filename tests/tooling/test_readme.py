"""The README's code runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from harness.paths import REPO

README = REPO / "README.md"


def section_code(title: str, language: str) -> str:
    text = README.read_text()
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)
    assert blocks, f"no {language} block under '## {title}'"
    return str(blocks[0])


def test_instrument_your_bot_example_runs_as_written(receiver, tmp_path):
    receiver.clear()
    script = tmp_path / "example.py"
    script.write_text(section_code("Instrument your bot", "python"))
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "BOTWATCH_SECRET_FILE": str(tmp_path / "s")}
    subprocess.run([sys.executable, str(script)], check=True, env=env, timeout=60)
    names = sorted(s["name"] for s in receiver.spans())
    assert names == ["chat gpt-4o-mini", "conversation", "crm.lead.create", "funnel", "turn"]
    assert {s["resource"]["service.name"] for s in receiver.spans()} == {"salon-bot"}


def test_quickstart_is_two_commands_and_ci_runs_the_test_one():
    quickstart = section_code("Quickstart", "sh")
    commands = [line.split("#")[0].strip() for line in quickstart.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def repository_table_paths() -> set[str]:
    """The paths in the first column of the README's "Repository" table."""
    section = README.read_text().split("## Repository\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.M))


def repository_directories(root: Path) -> set[str]:
    """Every top-level directory and every directory of the botwatch package, as the table spells them.

    Hidden directories (``.git``, ``.ci``, ``.venv``) and generated ones (``__pycache__``,
    ``*.egg-info``, ``node_modules``) are not part of the layout.
    """

    def listed(parent: Path) -> list[Path]:
        return [
            child
            for child in sorted(parent.iterdir())
            if child.is_dir()
            and not child.name.startswith((".", "_"))
            and not child.name.endswith(".egg-info")
            and child.name not in ("build", "node_modules")
        ]

    package = root / "src" / "botwatch"
    found = {f"{child.name}/" for child in listed(root)}
    found |= {f"{child.relative_to(root).as_posix()}/" for child in listed(package)}
    return found


def test_repository_table_names_every_top_level_directory_and_package():
    root = README.parent
    table = repository_table_paths()
    # A top-level directory is named by itself or by a row inside it (`src/botwatch/`).
    missing = sorted(d for d in repository_directories(root) if not any(p.startswith(d) for p in table))
    assert not missing, f"add to the README's Repository table: {', '.join(missing)}"


def test_the_repository_check_notices_a_new_directory(tmp_path):
    (tmp_path / "src" / "botwatch" / "newpkg").mkdir(parents=True)
    (tmp_path / "tools").mkdir()
    (tmp_path / ".hidden").mkdir()
    found = repository_directories(tmp_path)
    assert found == {"src/", "tools/", "src/botwatch/newpkg/"}
    assert "src/botwatch/newpkg/" not in repository_table_paths()


_CITED = re.compile(r"`(?:tests/)?((?:\w+/)*test_\w+\.py)(?:::(\w+))?`|`::(\w+)`")


def cited_tests(text: str) -> list[tuple[str, str | None]]:
    """``(file, test)`` for every test a note cites: `tests/test_x.py::name`, `test_x.py`, or `::name` after one."""
    cited: list[tuple[str, str | None]] = []
    last: str | None = None
    for match in _CITED.finditer(text):
        path, name, alone = match.groups()
        if path is not None:
            last = path.rsplit("/", 1)[-1]
            cited.append((last, name))
        elif last is not None:
            cited.append((last, alone))
    return cited


def test_every_test_the_design_notes_cite_exists():
    tests = README.parent / "tests"
    defined: dict[str, set[str]] = {}
    for path in tests.rglob("test_*.py"):
        defined[path.name] = set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), flags=re.M))
    missing = []
    for note in sorted((README.parent / "docs").glob("*.md")):
        for file, name in cited_tests(note.read_text()):
            if file not in defined or (name is not None and name not in defined[file]):
                missing.append(f"{note.name}: {file}{'::' + name if name else ''}")
    assert not missing, "the design notes cite tests that do not exist: " + ", ".join(missing)


def test_every_test_path_the_docs_name_exists():
    """`tests/<folder>/test_x.py` in README.md and docs/*.md: the file is where the text says (readers open it)."""
    named = re.compile(r"(?<![\w/])tests/(?:\w+/)*test_\w+\.py")
    missing = [
        f"{note.relative_to(README.parent)}: {path}"
        for note in (README, *sorted((README.parent / "docs").glob("*.md")))
        for path in sorted(set(named.findall(note.read_text())))
        if not (README.parent / path).is_file()
    ]
    assert not missing, "these test paths do not exist: " + ", ".join(missing)


def test_citations_are_read_with_the_file_they_follow():
    text = "`tests/test_a.py::test_one`, `::test_two`; `test_b.py`; `sdk/test_c.py::test_three`"
    assert cited_tests(text) == [
        ("test_a.py", "test_one"),
        ("test_a.py", "test_two"),
        ("test_b.py", None),
        ("test_c.py", "test_three"),
    ]
