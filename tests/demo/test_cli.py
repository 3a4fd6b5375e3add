"""The `botwatch` command on the embedded journal: demo, kpi, replay, and their errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from botwatch.cli import main


def botwatch_cmd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def clean_env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    env = {"BOTWATCH_SECRET": "cli-test-secret-0123456789", "BOTWATCH_SECRET_FILE": str(tmp_path / "secret")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def kpi_json(journal: Path) -> dict[str, object]:
    out = botwatch_cmd("kpi", "--since", "8d", "--json", "--journal", str(journal))
    assert out.returncode == 0, out.stderr
    data = dict(json.loads(out.stdout))
    del data["since"], data["until"]  # the window follows the clock
    return data


def test_demo_writes_the_journal_and_prints_kpis(clean_env, tmp_path):
    journal = tmp_path / "j.sqlite"
    out = botwatch_cmd("demo", "-n", "60", "--seed", "5", "--journal", str(journal), env=clean_env)
    assert out.returncode == 0, out.stderr
    assert "60/60 conversations" in out.stdout
    assert "Conversion chat → booking" in out.stdout and "Turns over 3 s" in out.stdout
    assert "Traceback" not in out.stderr
    assert kpi_json(journal)["conversations"] == 60


def test_same_seed_same_journal_kpis(clean_env, tmp_path):
    first, second, other = (tmp_path / f"{n}.sqlite" for n in ("a", "b", "c"))
    for path, seed in ((first, "9"), (second, "9"), (other, "10")):
        assert botwatch_cmd("demo", "-n", "80", "--seed", seed, "--journal", str(path), env=clean_env).returncode == 0
    a, b, c = kpi_json(first), kpi_json(second), kpi_json(other)
    assert a == b
    assert a != c
    replay_a = botwatch_cmd("replay", "demo-9-7", "--lang=en", "--journal", str(first)).stdout
    replay_b = botwatch_cmd("replay", "demo-9-7", "--lang=en", "--journal", str(second)).stdout
    assert replay_a == replay_b and "client" in replay_a


@pytest.mark.parametrize(
    ("faults", "key", "low", "high"),
    [
        ("slow_llm=0.3", "sla_breach_share", 0.24, 0.36),
        ("low_confidence=0.25", "low_confidence_share", 0.19, 0.31),
    ],
)
def test_fault_switch_moves_exactly_its_kpi(clean_env, tmp_path, faults, key, low, high):
    healthy, faulty = tmp_path / "healthy.sqlite", tmp_path / "faulty.sqlite"
    same = ("-n", "400", "--seed", "42")
    assert botwatch_cmd("demo", *same, "--journal", str(healthy), env=clean_env).returncode == 0
    out = botwatch_cmd("demo", *same, "--faults", faults, "--journal", str(faulty), env=clean_env)
    assert out.returncode == 0, out.stderr
    base, hurt = kpi_json(healthy), kpi_json(faulty)
    assert low <= float(hurt[key]) <= high, (key, hurt[key])
    assert float(base[key]) < 0.05
    untouched = {"sla_breach_share", "low_confidence_share", "lead_create_failures"} - {key}
    for other in untouched:
        assert hurt[other] == base[other], other
    assert hurt["conversations"] == base["conversations"] and hurt["turns"] == base["turns"]


def test_crm_errors_fail_leads(clean_env, tmp_path):
    journal = tmp_path / "crm.sqlite"
    assert botwatch_cmd("demo", "-n", "200", "--faults", "crm_errors=0.5", "--journal", str(journal)).returncode == 0
    kpi = kpi_json(journal)
    assert 0.35 <= float(kpi["lead_failure_rate"]) <= 0.65, kpi["lead_failure_rate"]


def test_demo_without_seed_adds_new_conversations(clean_env, tmp_path):
    """Running the demo twice must not record the same conversations twice."""
    journal = tmp_path / "twice.sqlite"
    for _ in range(2):
        assert botwatch_cmd("demo", "-n", "30", "--journal", str(journal), env=clean_env).returncode == 0
    assert kpi_json(journal)["conversations"] == 60


def test_same_seed_twice_into_one_journal_is_refused(clean_env, tmp_path):
    """`botwatch demo --seed 7` twice must not double every KPI and list every conversation twice."""
    journal = tmp_path / "seed7.sqlite"
    assert botwatch_cmd("demo", "-n", "20", "--seed", "7", "--journal", str(journal), env=clean_env).returncode == 0
    before = kpi_json(journal)
    again = botwatch_cmd("demo", "-n", "40", "--seed", "7", "--journal", str(journal), env=clean_env)
    assert again.returncode == 2
    assert f"the journal {journal} already holds the demo with seed 7" in again.stderr
    assert "Run without --seed" in again.stderr and "Traceback" not in again.stderr
    assert kpi_json(journal) == before and before["conversations"] == 20
    other = botwatch_cmd("demo", "-n", "5", "--seed", "8", "--journal", str(journal), env=clean_env)
    assert other.returncode == 0, other.stderr
    assert kpi_json(journal)["conversations"] == 25


def test_errors_are_messages_with_exit_codes_not_tracebacks(clean_env, tmp_path, capsys):
    missing = tmp_path / "missing.sqlite"
    assert main(["kpi", "--journal", str(missing)]) == 3
    assert "no journal here yet" in capsys.readouterr().err
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite" * 100)
    assert main(["replay", "x", "--journal", str(garbage)]) == 3
    assert "not a botwatch journal" in capsys.readouterr().err
    journal = tmp_path / "j.sqlite"
    assert main(["demo", "-n", "3", "--journal", str(journal)]) == 0
    capsys.readouterr()
    assert main(["replay", "no-such-conversation", "--journal", str(journal)]) == 1
    assert "no conversation 'no-such-conversation'" in capsys.readouterr().err
    assert main(["demo", "-n", "5", "--faults", "slow_llm=lots"]) == 2
    assert "--faults" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["kpi", "--since", "7x"])
    assert exit_info.value.code == 2


def test_help_everywhere():
    for command in ([], ["demo"], ["kpi"], ["replay"]):
        out = botwatch_cmd(*command, "--help")
        assert out.returncode == 0 and "usage: botwatch" in out.stdout
