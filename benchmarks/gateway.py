"""Webhook gateway throughput and latency against a bare endpoint of the same framework, same run.

Starts, on 127.0.0.1 only: an OTLP sink standing for the collector (it
keeps what arrives, and between phases decodes it and counts spans and log
records), the gateway
(``python -m botwatch.cli.gateway_command``, uvicorn, signed tenant) as one replica
with its ids in a SQLite file (the default without Redis) or N replicas sharing a real ``redis-server`` (each
its own process and port, the client spreading its connections over them as
a load balancer would), and a bare Starlette endpoint on the same uvicorn
that reads the body and answers ``{}``.  A small asyncio HTTP/1.1 client with
keep-alive connections posts pre-built, pre-signed requests (every event id
unique, so none is a cheap duplicate), single events and batches, and prints
events/s, p50/p99 latency, the gateway's CPU per event and the gateway/bare
ratios.  The gateway answers once an event is checked and its id claimed, and
records it right after; a phase lasts until every span and log record of
its accepted events has reached the sink, so events/s counts delivered
events, and throughput bought by dropping telemetry would show as missing
records (the gateway waits while its export queues are half full instead).

    python benchmarks/gateway.py [--replicas 2] [--single 2000] [--batches 200] [--batch-size 50]
                                 [--rate 2000] [--paced-seconds 20]

Targets (issue 7): >= 2000 events/s batched, p99 < 50 ms, on the 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from botwatch.gateway.auth import sign
from botwatch.stack.pidfiles import cpu_seconds as process_cpu_seconds
from botwatch.stack.ports import free_ports

TOKEN = "bench-token-0123456789abcdef"
SECRET = b"bench-signing-secret"
ROOT = Path(__file__).resolve().parents[1]

SINK = textwrap.dedent(
    """
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    # Bodies are kept as they come and decoded when the counts are asked for, between
    # phases: the sink stands for a collector on another machine and takes little CPU
    # from the gateway while it is measured.
    counts = {"spans": 0, "logs": 0}
    received = []
    lock = threading.Lock()

    def count(path, body):
        if path == "/v1/traces":
            r = ExportTraceServiceRequest.FromString(body)
            counts["spans"] += sum(len(s.spans) for rs in r.resource_spans for s in rs.scope_spans)
        elif path == "/v1/logs":
            r = ExportLogsServiceRequest.FromString(body)
            counts["logs"] += sum(len(s.log_records) for rl in r.resource_logs for s in rl.scope_logs)

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()
        def do_GET(self):
            with lock:
                pending = received[:]
                received.clear()
                for path, body in pending:
                    count(path, body)
                payload = json.dumps(counts).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
    """
)


BARE = textwrap.dedent(
    """
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def events(request):
        await request.body()
        return Response(b"{}", media_type="application/json")

    async def live(request):
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/v1/events", events, methods=["POST"]), Route("/health/live", live)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
    """
)


def wait_ready(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def event(n: int, run: str) -> dict[str, object]:
    """The issue's example event (a turn with intent, reply and a reported lead), unique id."""
    return {
        "event_id": f"evt_{run}_{n}",
        "timestamp": datetime.now(UTC).isoformat(),
        "channel": "whatsapp",
        "client": {"phone": f"+7912{n % 10_000_000:07d}", "name": "Иван"},
        "session_id": f"sess_{run}_{n // 4}",
        "intent": "запись_на_приём",
        "confidence": 0.87,
        "bot_response": "Записал на 15:00, отправил напоминание",
        "action": "create_lead",
        "crm_id": f"BX_LEAD_{n}",
        "latency_ms": 1200,
    }


def request_bytes(port: int, body: bytes) -> bytes:
    stamp = str(int(time.time()))
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nX-Botwatch-Timestamp: {stamp}\r\n"
        f"X-Botwatch-Signature: {sign(SECRET, stamp, body)}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def load(ports: list[int], requests: list[bytes], concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    """Closed loop: ``concurrency`` keep-alive connections spread over ``ports``; (seconds, latencies, statuses)."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            payload = queue.pop()
            started = time.perf_counter()
            writer.write(payload)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(ports[i % len(ports)]) for i in range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


async def load_paced(
    ports: list[int], requests: list[bytes], per_second: float, per_port: int = 2
) -> tuple[float, list[float], dict[int, int]]:
    """Open loop: a request every 1/per_second s whether or not earlier ones are done.

    Latency runs from when a request was due, so a request that waited for a
    free connection counts its wait (no coordinated omission).
    """
    pools: list[asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = []
    for port in ports:
        pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        for _ in range(per_port):
            pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
        pools.append(pool)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(index: int, payload: bytes, due: float) -> None:
        pool = pools[index % len(pools)]
        reader, writer = await pool.get()
        writer.write(payload)
        status = await _read_response(reader)
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait((reader, writer))

    started = time.perf_counter()
    tasks = []
    for index, payload in enumerate(requests):
        due = started + index / per_second
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, payload, due)))
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    for pool in pools:
        while not pool.empty():
            pool.get_nowait()[1].close()
    return seconds, latencies, statuses


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc)."""
    return sum(process_cpu_seconds(pid) for pid in pids)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (Linux /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


def phase(
    name: str,
    ports: list[int],
    bodies: list[bytes],
    events_per_request: int,
    concurrency: int,
    pids: list[int],
    events_per_second: float | None = None,
    settle: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """Closed loop over ``concurrency`` connections, or open loop at ``events_per_second``.

    ``settle`` waits until the phase's telemetry has reached the sink: its time
    counts in the phase's events/s (an event is done when it is exported, not
    when it is answered) and its CPU in the CPU per event.
    """
    requests = [request_bytes(ports[0], b) for b in bodies]
    cpu_before = cpu_seconds(pids)
    busy_before, total_before = machine_busy()
    if events_per_second:
        paced = load_paced(ports, requests, events_per_second / events_per_request)
        seconds, latencies, statuses = asyncio.run(paced)
    else:
        seconds, latencies, statuses = asyncio.run(load(ports, requests, concurrency))
    events = len(requests) * events_per_request
    busy, total = machine_busy()
    machine = (busy - busy_before) / max(total - total_before, 1e-9)
    settle_started = time.perf_counter()
    settle()
    seconds += time.perf_counter() - settle_started
    cpu = cpu_seconds(pids) - cpu_before
    bad = {s: n for s, n in statuses.items() if s != 200}
    done = events - sum(bad.values()) * events_per_request  # a refused request's events are not done
    result = {
        "events_per_s": done / seconds,
        "p50_ms": p(latencies, 0.5) * 1000,
        "p99_ms": p(latencies, 0.99) * 1000,
        "cpu_us": cpu / events * 1e6,
        "refused": sum(bad.values()),
        "machine": machine,
    }
    print(
        f"  {name:<28} {result['events_per_s']:>9.0f} events/s   p50 {result['p50_ms']:6.2f} ms   "
        f"p99 {result['p99_ms']:6.2f} ms   CPU {result['cpu_us']:5.0f} µs/event   machine {machine:4.0%} busy"
        + (f"   non-200: {bad}" if bad else ""),
        flush=True,
    )
    return result


def delivered(sink_port: int, spans: int, logs: int, timeout: float = 60.0) -> tuple[int, int]:
    """Wait until the sink has every span and log record expected (or the timeout); what it has."""
    deadline = time.monotonic() + timeout
    while True:
        counts = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{sink_port}/", timeout=5).read())
        if (counts["spans"] >= spans and counts["logs"] >= logs) or time.monotonic() > deadline:
            return counts["spans"], counts["logs"]
        time.sleep(0.1)


class Bench:
    """Runs the phases of one target; after each gateway phase, waits until its telemetry is exported."""

    def __init__(self, sink_port: int, concurrency: int, pids: dict[str, list[int]]) -> None:
        self.sink_port, self.concurrency, self.pids = sink_port, concurrency, pids
        self.sent: dict[str, int] = {}
        self.shortfall: list[str] = []

    def run(
        self, target: str, ports: list[int], name: str, bodies: list[bytes], size: int, rate: float | None = None
    ) -> dict[str, float]:
        self.sent[target] = sent = self.sent.get(target, 0) + len(bodies) * size
        if target != "gateway":
            return phase(f"{target} {name}", ports, bodies, size, self.concurrency, self.pids[target], rate)

        settle = lambda: self.settle(sent)  # noqa: E731
        return phase(f"{target} {name}", ports, bodies, size, self.concurrency, self.pids[target], rate, settle)

    def settle(self, events: int) -> None:
        """Every accepted event: a turn and a CRM span, and bot.replied, crm.action and
        funnel.lead_created records; every conversation (4 events): a root and its start record."""
        conversations = (events + 3) // 4
        want_spans, want_logs = 2 * events + conversations, 3 * events + conversations
        spans, logs = delivered(self.sink_port, want_spans, want_logs)
        if spans < want_spans or logs < want_logs:
            self.shortfall.append(f"{spans}/{want_spans} spans, {logs}/{want_logs} log records")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=2000, help="single-event requests per target (2000)")
    parser.add_argument("--batches", type=int, default=200, help="batched requests flat out per target (200)")
    parser.add_argument("--paced-seconds", type=float, default=20, help="length of the paced phase (20 s)")
    parser.add_argument("--batch-size", type=int, default=50, help="events per batch (50)")
    parser.add_argument("--replicas", type=int, default=2, help="gateway processes; > 1 share a redis-server (2)")
    parser.add_argument("--concurrency", type=int, default=0, help="keep-alive connections (one per replica)")
    parser.add_argument("--rate", type=float, default=2000, help="events/s of the paced batched phase (2000)")
    args = parser.parse_args()
    if args.single < 10 or args.batches < 1:
        parser.error("--single must be at least 10 and --batches at least 1")
    concurrency = args.concurrency or args.replicas

    sink_port, bare_port, redis_port, *gateway_ports = free_ports(3 + args.replicas)
    workdir = Path(tempfile.mkdtemp(prefix="botwatch-bench-"))
    tenants = workdir / "tenants.toml"
    tenants.write_text(
        f'[[tenants]]\nid = "bench"\ntoken = "{TOKEN}"\nsigning_secret = "{SECRET.decode()}"\n'
        "rate = 1000000\nburst = 1000000\n"
    )
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "BOTWATCH_SECRET": "bench-secret-0123456789",
        "OTEL_SERVICE_NAME": "bench-gateway",
        "BOTWATCH_GATEWAY_STATE": str(workdir / "gateway-state.sqlite"),  # not beside the user's journal
        # Export a phase's last records promptly (the SDK's default waits up to 5 s for a
        # full batch), since a phase lasts until its telemetry has arrived.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
    }
    python = sys.executable
    processes = [subprocess.Popen([python, "-c", SINK, str(sink_port)])]
    store: list[str] = []
    if args.replicas > 1:
        processes.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
        )
        store = ["--redis", f"redis://127.0.0.1:{redis_port}/0"]
    gateways = [
        subprocess.Popen(
            [python, "-m", "botwatch.cli.gateway_command", "--port", str(port), "--tenants", str(tenants), *store],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for port in gateway_ports
    ]
    processes += [*gateways, subprocess.Popen([python, "-c", BARE, str(bare_port)])]
    pids = {"bare": [processes[-1].pid], "gateway": [g.pid for g in gateways]}
    try:
        for port in gateway_ports:
            wait_ready(f"http://127.0.0.1:{port}/health/ready")
        wait_ready(f"http://127.0.0.1:{bare_port}/health/live")
        kind = f"{args.replicas} replicas sharing redis-server" if args.replicas > 1 else "1 replica, ids in SQLite"
        print(
            f"botwatch gateway benchmark: {os.cpu_count()} CPUs, {kind}, {concurrency} connections, "
            f"batch {args.batch_size} events, example event of issue 7 (turn, intent, reply, reported lead)",
            flush=True,
        )
        results: dict[str, dict[str, float]] = {}
        bench = Bench(sink_port, concurrency, pids)
        for target, ports in (("bare", [bare_port]), ("gateway", gateway_ports)):
            run = f"{target}{int(time.time())}"
            singles = [json.dumps(event(n, run)).encode() for n in range(args.single)]
            n = args.single
            batches = []
            paced_requests = max(1, round(args.rate / args.batch_size * args.paced_seconds))
            for _ in range(args.batches + paced_requests):
                batches.append(json.dumps([event(n + i, run) for i in range(args.batch_size)]).encode())
                n += args.batch_size
            warm = min(200, args.single // 5)
            bench.run(target, ports, "warm-up", singles[:warm], 1)
            results[f"{target} single"] = bench.run(target, ports, "single", singles[warm:], 1)
            closed, opened = batches[: args.batches], batches[args.batches :]
            results[f"{target} batched"] = bench.run(target, ports, "batched", closed, args.batch_size)
            name = f"batched at {args.rate:.0f}/s"
            results[f"{target} paced"] = bench.run(target, ports, name, opened, args.batch_size, args.rate)
        print("ratios gateway / bare (events/s; p99):")
        for kind in ("single", "batched", "paced"):
            g, b = results[f"gateway {kind}"], results[f"bare {kind}"]
            print(
                f"  {kind:<8} throughput {g['events_per_s'] / b['events_per_s']:.3f}x   "
                f"p99 {g['p99_ms'] / b['p99_ms']:.1f}x"
            )
        refused = sum(r["refused"] for k, r in results.items() if k.startswith("gateway"))
        complete = not bench.shortfall and not refused
        print(
            "every span and log record of the accepted events reached the sink"
            if complete
            else f"INCOMPLETE: {'; '.join(bench.shortfall)}; {refused} requests refused"
        )
        # Throughput is the closed loop's (as fast as the gateway answers); latency is taken at
        # the target rate, open loop, since a closed loop at saturation measures its own queue.
        batched, paced = results["gateway batched"], results["gateway paced"]
        kept_up = args.rate >= 2000 and paced["events_per_s"] >= 0.97 * args.rate
        ok = batched["events_per_s"] >= 2000 and kept_up and paced["p99_ms"] < 50 and complete
        print(
            f"target >= 2000 events/s batched with p99 < 50 ms, nothing lost: {'met' if ok else 'NOT met'} "
            f"(delivered {batched['events_per_s']:.0f} events/s flat out; at {paced['events_per_s']:.0f} events/s "
            f"p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms)"
        )
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
