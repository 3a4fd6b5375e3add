"""The README's code runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


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
