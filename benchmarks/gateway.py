"""Webhook gateway throughput and latency against a bare endpoint of the same framework, same run.

Starts, on 127.0.0.1 only: an OTLP sink (accepts and discards, standing for
the collector), the gateway (``python -m botwatch.cli.gateway``, uvicorn, one
worker, signed tenant, in-memory idempotency) and a bare Starlette endpoint
on the same uvicorn that reads the body and answers ``{}``.  A small asyncio
HTTP/1.1 client with keep-alive connections posts pre-built, pre-signed
requests (every event id unique, so none is a cheap duplicate), single events
and batches, and prints events/s, p50/p99 latency and the gateway/bare ratios.

    python benchmarks/gateway.py [--single 2000] [--batches 200] [--batch-size 50] [--concurrency 2]

Targets (issue 7): >= 2000 events/s batched, p99 < 50 ms, on the 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from botwatch.gateway.auth import sign

TOKEN = "bench-token-0123456789abcdef"
SECRET = b"bench-signing-secret"
ROOT = Path(__file__).resolve().parents[1]

SINK = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


async def load(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    """Closed loop: ``concurrency`` keep-alive connections; (seconds, latencies, status counts)."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker() -> None:
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
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def phase(name: str, port: int, bodies: list[bytes], events_per_request: int, concurrency: int) -> dict[str, float]:
    requests = [request_bytes(port, b) for b in bodies]
    seconds, latencies, statuses = asyncio.run(load(port, requests, concurrency))
    bad = {s: n for s, n in statuses.items() if s != 200}
    result = {
        "events_per_s": len(requests) * events_per_request / seconds,
        "p50_ms": p(latencies, 0.5) * 1000,
        "p99_ms": p(latencies, 0.99) * 1000,
    }
    print(
        f"  {name:<26} {result['events_per_s']:>9.0f} events/s   p50 {result['p50_ms']:6.2f} ms   "
        f"p99 {result['p99_ms']:6.2f} ms" + (f"   non-200: {bad}" if bad else "")
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=2000, help="single-event requests per target (2000)")
    parser.add_argument("--batches", type=int, default=200, help="batched requests per target (200)")
    parser.add_argument("--batch-size", type=int, default=50, help="events per batch (50)")
    parser.add_argument("--concurrency", type=int, default=2, help="keep-alive connections (2)")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes; > 1 uses Redis (1)")
    args = parser.parse_args()

    sink_port, gateway_port, bare_port = free_port(), free_port(), free_port()
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
        "BOTWATCH_SECRET": "bench-secret",
        "OTEL_SERVICE_NAME": "bench-gateway",
    }
    python = sys.executable
    gateway = [python, "-m", "botwatch.cli.gateway", "--port", str(gateway_port), "--tenants", str(tenants)]
    processes = [subprocess.Popen([python, "-c", SINK, str(sink_port)])]
    if args.workers > 1:
        redis_port = free_port()
        processes.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
        )
        gateway += ["--workers", str(args.workers), "--redis", f"redis://127.0.0.1:{redis_port}/0"]
    processes += [
        subprocess.Popen(gateway, env=env, stderr=subprocess.DEVNULL),
        subprocess.Popen([python, "-c", BARE, str(bare_port)]),
    ]
    try:
        wait_ready(f"http://127.0.0.1:{gateway_port}/health/ready")
        wait_ready(f"http://127.0.0.1:{bare_port}/health/live")
        print(
            f"botwatch gateway benchmark: {os.cpu_count()} CPUs, concurrency {args.concurrency}, "
            f"batch {args.batch_size} events, example event of issue 7 (turn, intent, reply, reported lead)"
        )
        results: dict[str, dict[str, float]] = {}
        for target, port in (("bare", bare_port), ("gateway", gateway_port)):
            run = f"{target}{int(time.time())}"
            n = 0
            singles = []
            for _ in range(args.single):
                singles.append(json.dumps(event(n, run)).encode())
                n += 1
            batches = []
            for _ in range(args.batches):
                batches.append(json.dumps([event(n + i, run) for i in range(args.batch_size)]).encode())
                n += args.batch_size
            phase(f"{target} warm-up", port, singles[:200], 1, args.concurrency)
            results[f"{target} single"] = phase(f"{target} single", port, singles[200:], 1, args.concurrency)
            results[f"{target} batched"] = phase(f"{target} batched", port, batches, args.batch_size, args.concurrency)
        print("ratios gateway / bare (events/s; p99):")
        for kind in ("single", "batched"):
            g, b = results[f"gateway {kind}"], results[f"bare {kind}"]
            print(
                f"  {kind:<8} throughput {g['events_per_s'] / b['events_per_s']:.3f}x   "
                f"p99 {g['p99_ms'] / b['p99_ms']:.1f}x"
            )
        batched = results["gateway batched"]
        ok = batched["events_per_s"] >= 2000 and batched["p99_ms"] < 50
        print(
            f"target >= 2000 events/s batched with p99 < 50 ms: {'met' if ok else 'NOT met'} "
            f"({batched['events_per_s']:.0f} events/s, p99 {batched['p99_ms']:.1f} ms)"
        )
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
