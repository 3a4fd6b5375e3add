"""A conversation before ``botwatch.init()`` goes nowhere and leaves nothing in init()'s way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.ports import free_ports

SCRIPT = """
import botwatch
with botwatch.conversation("early-1", channel="telegram") as conv:
    with conv.turn("Здравствуйте") as turn:
        turn.reply("Добрый день")
botwatch.init(service_name="late-bot")
with botwatch.conversation("late-1", channel="telegram"):
    pass
botwatch.shutdown()
print("init ok")
"""


def test_init_binds_the_prometheus_port_after_a_conversation_before_it(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="the prometheus extra (the lean SDK run has no extras)")
    (port,) = free_ports(1)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTWATCH_"))} | {
        "BOTWATCH_PROMETHEUS_PORT": str(port),
        "BOTWATCH_JOURNAL": str(tmp_path / "journal.sqlite"),
        "BOTWATCH_SECRET": "before-init-secret-0123456789",
    }
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=environment)
    assert out.returncode == 0, out.stderr  # was: OSError, address already in use (the no-op set-up had bound it)
    assert out.stdout.strip() == "init ok"
    assert "init() was not called" in out.stderr
