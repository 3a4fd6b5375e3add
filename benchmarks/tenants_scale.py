"""What 10, 100 and 1 000 tenants cost the routing and rules layer (not traffic: see README, Tenants).

    .venv/bin/python benchmarks/tenants_scale.py [--tenants 10,100,1000] [--sample 20]

For each size it writes a tenants file (each tenant with an owner chat, half
with a 5 s SLA, a third with a lead-failure share), then measures, with the
real binaries:

* parsing and validating it, rendering the Alertmanager routes and the target
  series (``botwatch stack render-tenants`` in-process);
* ``amtool check-config`` and ``promtool check rules`` wall time;
* the pinned Alertmanager started on the rendered config: time to ready and
  resident memory; ``--sample`` random tenants routed with
  ``amtool config routes test`` (each must reach ``tenant-<id>``);
* Debian's Prometheus evaluating alerts/rules plus the targets file every
  second: the target series it holds and the targets group's evaluation time.

Ratios are against the smallest size in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the harness

from harness import binaries  # noqa: E402
from harness.ports import free_ports  # noqa: E402
from harness.prometheus import Prometheus  # noqa: E402

from botwatch import tenants  # noqa: E402
from botwatch.stack import alertmanager_process, tenant_routes, tenant_rules, yamlfile  # noqa: E402
from botwatch.stack.prometheus_process import RULES_GLOB  # noqa: E402


def tenants_file(path: Path, count: int) -> Path:
    blocks = []
    for n in range(count):
        block = f'[[tenants]]\nid = "t{n:04d}"\n[tenants.owner]\nchat_id = {-1001000000000 - n}\n'
        targets = []
        if n % 2 == 0:
            targets.append("sla_seconds = 5")
        if n % 3 == 0:
            targets.append("lead_failure_share = 0.05")
        if targets:
            block += "[tenants.targets]\n" + "\n".join(targets) + "\n"
        blocks.append(block)
    path.write_text("\n".join(blocks))
    return path


def timed(run: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()  # type: ignore[operator]
    return time.perf_counter() - started, result


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(count: int, work: Path, sample: int) -> dict[str, float]:
    amtool = str(binaries.alertmanager_binary().with_name("amtool"))
    out: dict[str, float] = {}
    path = tenants_file(work / "tenants.toml", count)
    out["parse_ms"], found = timed(lambda: tenants.load(path))
    out["parse_ms"] *= 1000
    token = work / "token"
    token.write_text("123:abc")
    base = alertmanager_process.render_config(alertmanager_process.CONFIG, "http://127.0.0.1:9", token, -100)
    render_s, config = timed(lambda: tenant_routes.apply(base, found))  # type: ignore[arg-type]
    out["render_ms"] = render_s * 1000
    am_path = yamlfile.dump(config, work / "alertmanager.yml")
    rules_path = yamlfile.dump(tenant_rules.render(found), work / "tenant_targets.yml")  # type: ignore[arg-type]
    out["am_config_kib"] = am_path.stat().st_size / 1024
    for key, command in (
        ("amtool_check_s", [amtool, "check-config", str(am_path)]),
        ("promtool_check_s", ["promtool", "check", "rules", str(rules_path)]),
    ):
        out[key], done = timed(lambda c=command: subprocess.run(c, capture_output=True, text=True, timeout=300))
        assert done.returncode == 0, done.stdout + done.stderr  # type: ignore[attr-defined]
    rng = random.Random(count)
    right = 0
    for tenant_id in rng.sample(found.ids, min(sample, count)):  # type: ignore[attr-defined]
        route = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={am_path}", f"botwatch_tenant={tenant_id}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        right += route.stdout.strip() == f"tenant-{tenant_id}"
    out["routed_right"] = right
    out["routed_sampled"] = min(sample, count)
    am_port, prom_port = free_ports(2)
    am = alertmanager_process.Alertmanager(
        binaries.alertmanager_binary(), work / "am", am_port, "http://127.0.0.1:9", token, -100, config=am_path
    )
    started = time.perf_counter()
    am.start(timeout=120)
    out["am_ready_s"] = time.perf_counter() - started
    assert am.process.pid is not None
    out["am_rss_mib"] = rss_mib(am.process.pid)
    am.stop()
    prometheus = Prometheus(
        binaries.prometheus_binary(),
        work / "prometheus",
        prom_port,
        targets={},
        interval="1s",
        rule_files=[str(RULES_GLOB), str(rules_path)],
    )
    prometheus.start()
    try:
        time.sleep(5)
        series = prometheus.client.query('count({__name__=~"botwatch:tenant:.+"})')
        out["target_series"] = float(series[0]["value"][1]) if series else 0.0
        with urllib.request.urlopen(f"{prometheus.url}/api/v1/rules", timeout=10) as response:
            groups = json.load(response)["data"]["groups"]
        group = next(g for g in groups if g["name"] == tenant_rules.GROUP)
        out["targets_eval_ms"] = float(group["evaluationTime"]) * 1000
        out["prometheus_rss_mib"] = rss_mib(prometheus.process.pid or 0)
    finally:
        prometheus.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", default="10,100,1000")
    parser.add_argument("--sample", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(n) for n in args.tenants.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="botwatch-tenants-") as tmp:
        for count in sizes:
            work = Path(tmp) / str(count)
            work.mkdir()
            results[count] = measure(count, work, args.sample)
            print(f"{count} tenants: " + ", ".join(f"{k}={v:.4g}" for k, v in results[count].items()), flush=True)
    base = results[sizes[0]]
    print(f"\nratios against {sizes[0]} tenants (same run):")
    for count in sizes[1:]:
        ratios = {k: v / base[k] for k, v in results[count].items() if base.get(k) and not k.startswith("routed")}
        print(f"  {count}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
