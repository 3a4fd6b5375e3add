"""MTTR from Prometheus's ALERTS history, on a real Prometheus: an alert that fires 10 s of every 20."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness import binaries
from harness.ports import free_ports
from harness.prometheus import Prometheus

from botwatch.audit.mttr import incidents, mttr
from botwatch.cli import main
from botwatch.journal.schema import connect

pytestmark = [pytest.mark.stack]

RULES = """groups:
  - name: blink
    rules:
      - alert: Blink
        expr: vector(time()) % 20 < 10
        labels: {severity: warning}
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("mttr")
    rules = workdir / "blink.yml"
    rules.write_text(RULES)
    (port,) = free_ports(1)
    server = Prometheus(binaries.prometheus_binary(), workdir / "prometheus", port, {}, rule_files=[str(rules)])
    server.start()
    # Count from a moment the alert is resolved (second 10-20 of its period), after the first evaluation:
    # the blink under way when Prometheus started would otherwise look 1-10 s long.
    now = time.time()
    began = datetime.fromtimestamp((now // 20 + 1) * 20 + 12, UTC)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(incidents(server.url, began, datetime.now(UTC))) < 2:
            time.sleep(1)
        yield server, began
    finally:
        server.stop()


def test_each_blink_is_one_incident_of_about_ten_seconds(prometheus):
    server, began = prometheus
    until = datetime.now(UTC)
    found = incidents(server.url, began, until, timedelta(seconds=1))
    assert len(found) >= 2, found
    for incident in found:
        assert incident.alertname == "Blink" and ("severity", "warning") in incident.labels
        assert began <= incident.started < incident.resolved <= until
        assert timedelta(seconds=8) <= incident.duration <= timedelta(seconds=12), incident  # 10 s, ± a step each end
        assert incident.started.timestamp() % 20 < 2  # it starts as the clock's 20 s period does
    value = mttr(found)
    assert value is not None and timedelta(seconds=8) <= value <= timedelta(seconds=12)
    # The alert still firing at the window's end, or already at its start, has no known length: left out.
    inside = incidents(server.url, found[0].started + timedelta(seconds=3), found[-1].resolved, timedelta(seconds=1))
    assert [i.started for i in inside] == [i.started for i in found[1:]]


def test_kpi_adds_mttr_from_prometheus(prometheus, tmp_path: Path, capsys):
    server, began = prometheus
    empty = tmp_path / "j.sqlite"
    connect(empty, create=True).close()
    argv = ["kpi", "--json", "--since", began.isoformat(), "--journal", str(empty), "--prometheus-url", server.url]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["alerts_resolved"] >= 2 and 8 <= data["alerts_mttr_s"] <= 12
    assert main([*argv[:-1], "http://127.0.0.1:9"]) == 3
    assert "Prometheus at http://127.0.0.1:9 is not reachable" in capsys.readouterr().err


def test_a_tenants_mttr_counts_only_its_alerts(prometheus, tmp_path: Path, capsys):
    """``kpi --tenant`` asks for ALERTS with botwatch_tenant: Blink carries none, so no tenant has its incidents."""
    server, began = prometheus
    until = datetime.now(UTC)
    assert len(incidents(server.url, began, until, timedelta(seconds=1))) >= 2
    assert incidents(server.url, began, until, timedelta(seconds=1), tenant="salon-1") == []
    empty = tmp_path / "j.sqlite"
    connect(empty, create=True).close()
    argv = ["kpi", "--json", "--since", began.isoformat(), "--journal", str(empty), "--prometheus-url", server.url]
    assert main([*argv, "--tenant", "salon-1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["alerts_resolved"] == 0 and data["alerts_mttr_s"] is None
