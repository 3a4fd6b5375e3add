"""1 000 tenants on one native stack: series per tenant, gateway events/s, every alert in its owner's chat.

    .venv/bin/python benchmarks/tenants_load.py [--tenants 1000] [--slow-every 10] [--batch 10]

``botwatch stack up --tenants FILE`` (collector, Prometheus, Alertmanager, the
journal receiver; rules and Alertmanager timings scaled as in
tests/harness/alert_stack.py) and ``botwatch gateway`` on the same tenants file,
all on 127.0.0.1, Telegram the local Bot API of tests/telegram_api.py.

1. burst: every tenant posts one batch of ``--batch`` events (a few intents;
   every 20th tenant also 200 junk intents, which its label budget folds);
   the gateway's accepted events per second over the burst are printed;
2. every ``--slow-every``-th tenant then answers in 4 s (1 event a second, for
   up to 90 s): each must get its SLA alert in its own owner chat, and no
   other chat may get anything;
3. Prometheus is asked how many ``botwatch_*`` series each tenant has, and in
   all.

Cost per tenant, measured in the same run:

* CPU: user + system seconds of each process (``/proc/<pid>/stat`` of the
  gateway and of every stack process, their process groups summed) over the
  burst until the journal stopped growing, per 1 000 accepted events; then the
  same processes idle for ``--idle-seconds`` with every tenant's series in
  place (the standing cost of the series: metric export, remote write,
  rule evaluation);
* disk: bytes the burst added to the journal's spans, logs, funnel and
  resources (tables and their indexes, SQLite's ``dbstat``) and to the
  gateway's idempotency store, per accepted event, times ``--events-per-day``
  (the stated traffic of one small business); Prometheus's data directory
  growth over the idle window, per tenant and day (its WAL, before
  compaction: an upper bound).

The baseline for series is the same run's smallest tenant.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the harness, the local Bot API and the scaled configs

from harness.alert_stack import TOKEN, Message, scaled_stack_up  # noqa: E402
from harness.ports import PORT_OPTIONS, free_ports  # noqa: E402
from harness.processes import ManagedProcess  # noqa: E402
from telegram_api import BotAPI  # noqa: E402

from botwatch.stack.pidfiles import PidRecord, cpu_seconds, group_members  # noqa: E402

INTENTS = ("booking", "price", "address", "cancel", "greeting")
SLA_BREACH = "BotwatchResponseSLABreach"
DEFAULT_CHAT = -1001000000000
JUNK_INTENTS = 200  # past the tenant's 50 intent slots (botwatch.budgets.VALUE_LIMITS): the rest fold into other


def chat_of(n: int) -> int:
    return -1002000000000 - n


def token_of(n: int) -> str:
    return f"tenant-{n:04d}-token-0123456789"


def write_tenants(path: Path, count: int) -> None:
    blocks = [
        f'[[tenants]]\nid = "t{n:04d}"\ntoken = "{token_of(n)}"\n[tenants.owner]\nchat_id = {chat_of(n)}\n'
        for n in range(count)
    ]
    path.write_text("\n".join(blocks))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwatch.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


RETRIES = {"count": 0}


def post(url: str, n: int, events: list[dict[str, Any]]) -> int:
    """Accepted events of one batch; a 503 or 429 (back-pressure) is retried after Retry-After, as a sender should."""
    body = json.dumps({"events": events}).encode()
    headers = {"Authorization": f"Bearer {token_of(n)}", "Content-Type": "application/json"}
    for _ in range(30):
        request = urllib.request.Request(f"{url}/v1/events", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                results = json.load(response)["results"]
            return sum(1 for r in results if r.get("status") in ("accepted", "duplicate"))
        except urllib.error.HTTPError as error:
            if error.code not in (429, 503):
                raise
            RETRIES["count"] += 1
            time.sleep(float(error.headers.get("Retry-After") or 1))
    raise RuntimeError(f"tenant {n}: the gateway kept refusing")


def event(n: int, k: int, latency_ms: float, intent: str) -> dict[str, Any]:
    sent = datetime.now(UTC) - timedelta(milliseconds=latency_ms)
    return {
        "event_id": f"t{n}-e{k}",
        "timestamp": sent.isoformat(),
        "channel": "whatsapp",
        "session_id": f"s{k % 7}",
        "text": "Хочу записаться",
        "intent": intent,
        "confidence": 0.9,
        "bot_response": "Записал",
        "latency_ms": latency_ms,
    }


def cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process group (the leader and its live children)."""
    return {name: sum(cpu_seconds(p) for p in {pid, *group_members(pid)}) for name, pid in pids.items()}


def content_bytes(journal: Path) -> tuple[int, int]:
    """(bytes of the journal's content tables with their indexes, spans rows); (0, 0) before it exists."""
    import sqlite3

    if not journal.exists():
        return 0, 0
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=30)
    try:
        tables = ("spans", "logs", "funnel", "resources")
        marks = ",".join("?" * len(tables))
        size = conn.execute(
            f"SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN "
            f"(SELECT name FROM sqlite_master WHERE tbl_name IN ({marks}))",
            tables,
        ).fetchone()[0]
        spans = conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
        return int(size), int(spans)
    finally:
        conn.close()


def file_bytes(*paths: Path) -> int:
    """Bytes on disk of these files (and their -wal/-shm) or of every file under these directories."""
    total = 0
    for path in paths:
        for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if candidate.is_file():
                total += candidate.stat().st_size
        if path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


def settle(journal: Path, quiet: float = 5.0, limit: float = 300.0) -> tuple[int, int]:
    """Wait until the journal's span count has not changed for ``quiet`` seconds; its (bytes, spans)."""
    last, since, deadline = content_bytes(journal), time.monotonic(), time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = content_bytes(journal)
        if now[1] != last[1]:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=300) as response:
        return list(json.load(response)["data"]["result"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--slow-every", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10)
    # ÷3: 5-minute windows of 100 s still hold several samples of 1 000 tenants' series on 2 cores (÷10 does not)
    parser.add_argument("--scale", type=float, default=3, help="rule windows, for: and group timings divided by")
    parser.add_argument("--export-ms", type=int, default=5000, help="the gateway's metric export interval")
    parser.add_argument("--slow-seconds", type=float, default=240, help="at most this long for every alert")
    parser.add_argument("--idle-seconds", type=float, default=30, help="idle window for the standing CPU cost")
    parser.add_argument(
        "--events-per-day", type=int, default=300, help="a small business's gateway events a day (for disk/day)"
    )
    parser.add_argument(
        "--collector-memory-mib", type=int, default=None, help="COLLECTOR_MEMORY_LIMIT_MIB (collector/config.yaml: 512)"
    )
    args = parser.parse_args()
    slow = [n for n in range(args.tenants) if n % args.slow_every == 0]
    with tempfile.TemporaryDirectory(prefix="botwatch-tenants-load-") as tmp:
        work = Path(tmp)
        tenants_file = work / "tenants.toml"
        write_tenants(tenants_file, args.tenants)
        token_file = work / "token"
        token_file.write_text(TOKEN)
        *stack_ports, gateway_port = free_ports(len(PORT_OPTIONS) + 1)
        ports = dict(zip(PORT_OPTIONS, stack_ports, strict=True))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
        env.update(
            XDG_DATA_HOME=str(work / "xdg"),
            BOTWATCH_SECRET_FILE=str(work / "secret"),
            COLLECTOR_REMOTE_WRITE_FLUSH_INTERVAL="1s",
        )
        if args.collector_memory_mib:
            env["COLLECTOR_MEMORY_LIMIT_MIB"] = str(args.collector_memory_mib)
        telegram = BotAPI(TOKEN)
        directory = work / "stack"
        gateway: ManagedProcess | None = None
        try:
            up = cli(
                env,
                *scaled_stack_up(
                    work,
                    ports,
                    token_file=token_file,
                    chat_id=DEFAULT_CHAT,
                    telegram_url=telegram.url,
                    tenants_file=tenants_file,
                    journal=work / "journal.sqlite",
                    factor=args.scale,
                ),
            )
            assert up.returncode == 0, up.stderr
            gateway_env = {
                **env,
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports['--otlp-http-port']}",
                "OTEL_METRIC_EXPORT_INTERVAL": str(args.export_ms),
                "BOTWATCH_JOURNAL": str(work / "gateway.sqlite"),
            }
            gateway = ManagedProcess(
                "gateway",
                [
                    sys.executable,
                    "-m",
                    "botwatch.cli",
                    "gateway",
                    f"--tenants={tenants_file}",
                    f"--port={gateway_port}",
                ],
                log_path=work / "gateway.log",
                env=gateway_env,
            )
            gateway.start()
            url = f"http://127.0.0.1:{gateway_port}"
            gateway.wait_until(lambda: _ready(url), 60)

            # 1. burst: one batch per tenant
            def burst(n: int) -> int:
                intents = [INTENTS[k % len(INTENTS)] for k in range(args.batch)]
                junk = [f"junk-{n}-{k}" for k in range(JUNK_INTENTS)] if n % 20 == 0 else []
                events = [event(n, k, 1000.0, i) for k, i in enumerate(intents + junk)]
                return post(url, n, events)

            assert gateway.pid is not None
            pids = {"gateway": gateway.pid}
            pids.update({r.name: r.pid for r in map(PidRecord.read, (directory / "run").glob("*.pid")) if r})
            journal = work / "journal.sqlite"
            state = work / "gateway-state.sqlite"  # the gateway's idempotency store (beside its journal)
            journal_before = settle(journal, quiet=2.0, limit=30.0)
            state_before = file_bytes(state)
            cpu_before = cpu(pids)

            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                accepted = sum(pool.map(burst, range(args.tenants)))
            burst_s = time.perf_counter() - started
            print(
                f"burst: {accepted} events from {args.tenants} tenants in {burst_s:.1f} s "
                f"= {accepted / burst_s:,.0f}/s "
                f"({RETRIES['count']} batches retried after 503/429 back-pressure)",
                flush=True,
            )

            # cost: CPU of the burst until the journal stops growing, disk it added, then the idle cost
            journal_after = settle(journal)
            settled_s = time.perf_counter() - started
            cpu_after = cpu(pids)
            state_after = file_bytes(state)
            spent = {name: cpu_after[name] - cpu_before[name] for name in pids}
            print(
                f"cpu over the burst until the journal settled ({settled_s:.0f} s, "
                f"{journal_after[1] - journal_before[1]} spans): "
                + ", ".join(
                    f"{name} {seconds:.1f} s = {seconds / accepted * 1000:.2f} s/1000 events"
                    for name, seconds in spent.items()
                ),
                flush=True,
            )
            per_event_journal = (journal_after[0] - journal_before[0]) / accepted
            per_event_state = (state_after - state_before) / accepted
            day = args.events_per_day
            print(
                f"disk per event: journal {per_event_journal:,.0f} B (spans, logs, funnel with indexes), "
                f"gateway idempotency store {per_event_state:,.0f} B; at {day} events a day per tenant: "
                f"journal {per_event_journal * day / 1024:,.0f} KiB/day, "
                f"store {per_event_state * day / 1024:,.0f} KiB/day per tenant",
                flush=True,
            )
            prometheus_dir = directory / "prometheus"
            idle_disk_before, idle_cpu_before = file_bytes(prometheus_dir), cpu(pids)
            time.sleep(args.idle_seconds)
            idle_disk_after, idle_cpu_after = file_bytes(prometheus_dir), cpu(pids)
            idle = {name: (idle_cpu_after[name] - idle_cpu_before[name]) / args.idle_seconds for name in pids}
            growth = (idle_disk_after - idle_disk_before) / args.idle_seconds
            print(
                f"idle with {args.tenants} tenants' series (metric export every {args.export_ms} ms), "
                f"CPU seconds per second: "
                + ", ".join(f"{name} {rate:.3f}" for name, rate in idle.items())
                + f"; all {sum(idle.values()):.3f} = {sum(idle.values()) / args.tenants * 1000:.2f} ms/s per tenant; "
                f"Prometheus data dir +{growth / 1024:,.1f} KiB/s = "
                f"{growth * 86400 / args.tenants / 1024 / 1024:,.2f} MiB/day per tenant (WAL, before compaction)",
                flush=True,
            )

            # 2. the slow tenants, until each has its alert
            sequence = 1000
            deadline = time.monotonic() + args.slow_seconds
            wanted = {chat_of(n) for n in slow}
            fired: set[int] = set()
            slow_started = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                while time.monotonic() < deadline and not wanted <= fired:
                    tick = time.monotonic()
                    sequence += 1
                    batches = [(n, [event(n, sequence, 4000.0, "booking")]) for n in slow]
                    list(pool.map(lambda batch: post(url, *batch), batches))
                    fired = {
                        int(c.params["chat_id"])
                        for c in telegram.accepted()
                        if Message(c.at, str(c.params.get("text", ""))).alertname == SLA_BREACH
                    }
                    time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
            calls = telegram.accepted()
            chats = {int(c.params["chat_id"]) for c in calls}
            default = [
                Message(c.at, str(c.params.get("text", ""))).alertname
                for c in calls
                if int(c.params["chat_id"]) == DEFAULT_CHAT
            ]
            print(
                f"alerts: {len(fired & wanted)}/{len(wanted)} slow tenants got the SLA alert in their own chat; "
                f"in {time.monotonic() - slow_started:.0f} s; "
                f"{len(calls)} messages; other tenants' chats reached: {len(chats - wanted - {DEFAULT_CHAT})}; "
                f"the integrator's chat (alerts without a tenant): {sorted(set(default))}",
                flush=True,
            )

            if not wanted <= fired:  # say why: what the rules saw for one slow tenant, and any rule errors
                prometheus = f"http://127.0.0.1:{ports['--prometheus-port']}"
                slow_count = 'botwatch_turn_duration_seconds_count{botwatch_tenant="t0000"}'
                for expr in (
                    'job_channel:botwatch_turns_over_sla:ratio_rate5m{botwatch_tenant="t0000"}',
                    'job_channel:botwatch_turns:increase5m{botwatch_tenant="t0000"}',
                    'sum by (le) (botwatch_turn_duration_seconds_bucket{botwatch_tenant="t0000"})',
                    # whether samples reach the rules' windows: the newest sample's age, the samples in one window
                    'time() - timestamp(botwatch_turn_duration_seconds_count{botwatch_tenant="t0000"})',
                    f"count_over_time({slow_count}[{300 / args.scale:g}s])",
                    f"count_over_time({slow_count}[{args.slow_seconds:g}s])",
                    "sum(otelcol_receiver_refused_metric_points_total)",
                ):
                    found = [(r["metric"], r["value"][1]) for r in query(prometheus, expr)]
                    print(f"  {expr}: {found[:6]}", flush=True)
                log = (directory / "collector" / "otelcol.log").read_text(errors="replace").splitlines()
                refusals = [
                    line[:300] for line in log if any(w in line.lower() for w in ("refus", "too large", "limit"))
                ]
                print("collector log:", *refusals[-3:] or ["(nothing refused)"], sep="\n  ", flush=True)

            # rule evaluation: each group's last round (Prometheus runs groups side by side) and its slowest rules
            prometheus = f"http://127.0.0.1:{ports['--prometheus-port']}"
            print_rule_groups(prometheus)

            # 3. series
            per_tenant = query(
                prometheus, 'count by (botwatch_tenant) ({__name__=~"botwatch_.+", botwatch_tenant!=""})'
            )
            counts = sorted(int(float(r["value"][1])) for r in per_tenant)
            total = query(prometheus, 'count({__name__=~"botwatch_.+"})')
            head = query(prometheus, "prometheus_tsdb_head_series")
            junk_tenants = [n for n in range(args.tenants) if n % 20 == 0]
            junk_counts = [
                int(float(r["value"][1]))
                for r in per_tenant
                if r["metric"]["botwatch_tenant"] in {f"t{n:04d}" for n in junk_tenants}
            ]
            print(
                f"series: {len(counts)} tenants; per tenant min {counts[0]}, median {counts[len(counts) // 2]}, "
                f"max {counts[-1]} (junk-intent tenants max {max(junk_counts)}, "
                f"{max(junk_counts) / counts[0]:.2f}x the smallest); botwatch_* total "
                f"{total[0]['value'][1]}; Prometheus head series {head[0]['value'][1]}"
            )
        finally:
            if gateway is not None:
                gateway.stop()
            cli(env, "stack", "down", "--dir", str(directory))
            telegram.close()


def print_rule_groups(prometheus: str) -> None:
    """Each rule group's last evaluation time, its mean over the last 2 minutes, errors and slowest rules."""
    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=60) as response:
        groups = json.load(response)["data"]["groups"]
    mean = {
        r["metric"].get("rule_group", "").rsplit(";", 1)[-1]: float(r["value"][1])
        for r in query(
            prometheus,
            "rate(prometheus_rule_group_duration_seconds_sum[2m])"
            " / rate(prometheus_rule_group_duration_seconds_count[2m])",
        )
    }
    for group in groups:
        bad = [r.get("lastError") for r in group["rules"] if r.get("health") != "ok"]
        average = f", mean {mean[group['name']]:.3f} s" if group["name"] in mean else ""
        print(
            f"  rule group {group['name']}: last {group.get('evaluationTime', 0):.3f} s{average}, errors {bad[:2]}",
            flush=True,
        )
        slowest = sorted(group["rules"], key=lambda r: -float(r.get("evaluationTime", 0)))[:3]
        for rule in slowest:
            name = rule.get("record") or rule.get("name")
            print(f"    {float(rule.get('evaluationTime', 0)):.3f} s {name}", flush=True)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    main()
