"""A core install (no extras) runs every command; `--help` loads neither the SDK nor any extra.

The CI's scripts/lean-install-check.sh proves it in a real fresh venv with
`pip install .`; these tests prove it here in seconds by running the CLI with
every optional dependency made unimportable, as it is in that venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.paths import REPO

# Top-level modules of the extras (report, gateway, redis, stack, prometheus, xlsx, integrations) and loguru.
EXTRAS = (
    "matplotlib",
    "starlette",
    "uvicorn",
    "pydantic",
    "httpx",
    "httptools",
    "uvloop",
    "redis",
    "yaml",
    "prometheus_client",
    "openpyxl",
    "loguru",
    "aiogram",
    "telegram",
    "openai",
)
NO_EXTRAS = f"""
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""
WITHOUT_EXTRAS = (
    NO_EXTRAS
    + """
from botwatch.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
sys.stdout.flush()
print("\\nLOADED " + " ".join(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""
)

ROUNDTRIP = REPO / "scripts" / "lean_sdk_roundtrip.py"


def lean(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def loaded(out: subprocess.CompletedProcess[str]) -> set[str]:
    return set(out.stderr.rpartition("LOADED ")[2].split())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("BOTWATCH_PROMETHEUS_PORT", raising=False)
    return {
        "BOTWATCH_JOURNAL": str(tmp_path / "journal.sqlite"),
        "BOTWATCH_SECRET": "lean-test-secret-0123456789",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }


@pytest.mark.parametrize("command", [[], ["kpi"], ["report"], ["export"], ["gateway"], ["sessions"]])
def test_help_loads_no_extra(env: dict[str, str], command: list[str]) -> None:
    out = lean(*command, "--help", env=env)
    assert out.returncode == 0, out.stderr
    assert "usage: botwatch" in out.stdout
    modules = loaded(out)
    heavy = {m for m in modules if m.partition(".")[0] in EXTRAS}
    assert not heavy, f"botwatch {' '.join(command)} --help imported {sorted(heavy)}"
    if not command:  # the list of commands: not even the OpenTelemetry SDK or another subcommand
        assert not {m for m in modules if m.startswith("opentelemetry")}
        assert not {m for m in modules if m.startswith("botwatch.cli.") and m != "botwatch.cli.commands"} - {
            "botwatch.cli.common"
        }


def test_every_command_runs_without_extras(env: dict[str, str], tmp_path: Path) -> None:
    demo = lean("demo", "-n", "8", "--seed", "21", env=env)
    assert demo.returncode == 0, demo.stderr
    for command in (["kpi", "--since", "8d"], ["sessions", "--since", "8d"], ["report", "--help"]):
        out = lean(*command, env=env)
        assert out.returncode == 0, (command, out.stderr)
    listed = lean("sessions", "--since", "8d", "--json", "--limit", "1", env=env)
    conversation = json.loads(listed.stdout.splitlines()[0])["conversation_id"]
    replay = lean("replay", conversation, env=env)
    assert replay.returncode == 0 and conversation in replay.stdout, replay.stderr
    export = lean("export", "--since", "8d", "--quiet", "--out", str(tmp_path / "events.csv"), env=env)
    assert export.returncode == 0, export.stderr
    assert (tmp_path / "events.csv").read_text().count(conversation) >= 1


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (["report", "--since", "8d"], "report"),
        (["gateway", "--port", "0"], "gateway"),
    ],
)
def test_a_missing_extra_is_named(env: dict[str, str], tmp_path: Path, command: list[str], extra: str) -> None:
    assert lean("demo", "-n", "3", "--seed", "22", env=env).returncode == 0
    out = (
        lean(*command, "--out", str(tmp_path / "out"), env=env) if command[0] != "gateway" else lean(*command, env=env)
    )
    assert out.returncode == 2, out.stderr
    message = out.stderr.partition("\nLOADED ")[0]
    assert f"pip install 'botwatch[{extra}]'" in message and "Traceback" not in message, message
    assert not (tmp_path / "out").exists()


def test_the_package_loads_its_names_on_first_use() -> None:
    check = (
        "import sys, botwatch\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'import botwatch loaded the SDK'\n"
        "import botwatch.conversation\n"  # the submodule import must not hide the public class
        "assert isinstance(botwatch.conversation, type), botwatch.conversation\n"
        "assert botwatch.conversation is botwatch.Conversation\n"
        "assert botwatch.semconv.TENANT == 'botwatch.tenant' and callable(botwatch.init)\n"
        "from botwatch import Turn, flush, shutdown\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_an_sdk_conversation_is_exported_over_otlp_and_into_the_journal_without_extras(
    env: dict[str, str], tmp_path: Path
) -> None:
    """What scripts/lean-install-check.sh runs in the fresh venv (scripts/lean_sdk_roundtrip.py), extras blocked."""
    code = (
        NO_EXTRAS
        + f"import runpy\nsys.argv = ['roundtrip', {str(tmp_path)!r}]\n"
        + f"runpy.run_path({str(ROUNDTRIP)!r}, run_name='__main__')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "lean sdk: ok: a conversation over OTLP/HTTP into the journal receiver: 1 turn span" in out.stdout
    assert "lean sdk: ok: a conversation into the journal: 1 turn span" in out.stdout
