"""Per-turn cost of the full botwatch API against bare opentelemetry-sdk, and against botwatch before, same run.

A "turn" in botwatch: turn + intent + llm (usage) + crm + reply + its
metrics and log records.  The baseline: bare opentelemetry-sdk creating
the same three spans with the same attributes, through the same OTLP/HTTP
exporter.  Three contenders, each in its own fresh process, rounds
interleaved (the order rotates every round):

* ``bare``: opentelemetry-sdk alone;
* ``before``: botwatch as it was at ``--baseline-ref`` (its package is taken
  out of git with ``git archive`` into a temporary directory and put first
  on ``PYTHONPATH``);
* ``after``: botwatch of this working tree.

Every contender exports over OTLP/HTTP to one receiver in this (parent)
process, as a bot exports to a collector in another process, so a worker's
process CPU is what the bot's process pays: its own thread, the SDK's batch
and metric threads, botwatch's background thread and the encoding.  The
receiver's own CPU per turn (decoding what it got) is shown apart.

Reports, per turn and per contender: what the bot waits for (wall time of
the turn on its thread: mean, p50, p99), the bot thread's CPU, and the
whole process's CPU; per round and as medians with their spread
(min-max), and the ratios to bare for before and after.  Then the turn
latency added while the OTLP endpoint is down (target: p99 under 1 ms
more than with it up).

    python benchmarks/sdk_overhead.py [--turns 3000] [--rounds 5] [--rate 500]
        [--baseline-ref REF] [--loads paced,back-to-back] [--no-endpoint-down]

Two loads: paced (a busy bot, 500 turns/s, the rate the export keeps up
with; the one the targets judge) and back to back (the export falls behind
and its backlog grows, so both pay more for garbage collection).  All use
batch processors with room for the whole run, and the spans and log
records each one delivered are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The commit before issue 18's cheaper turn: "before" unless --baseline-ref says otherwise.
BASELINE_REF = "4656609d614d83f3a0cd720ef7032860f0f054e9"
WARM_UP = 200
CONVERSATIONS = 100

# Targets of issue 18 (paced load), as ratios to bare opentelemetry-sdk.
TARGET_PROCESS_CPU = 1.35
TARGET_MEAN_WAIT = 1.15


# -- the workloads (run in a worker process) -------------------------------------
def bare_turn_factory(endpoint: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, set_span_in_context

    from botwatch import semconv

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    tracer = provider.get_tracer("bench")

    def turn(n: int) -> None:
        common = {semconv.GEN_AI_CONVERSATION_ID: f"sess_{n % 100}", semconv.CHANNEL: "whatsapp"}
        with tracer.start_as_current_span("turn", kind=SpanKind.SERVER, attributes=common) as span:
            span.set_attributes({semconv.TURN_INDEX: n, semconv.INTENT: "booking", semconv.INTENT_CONFIDENCE: 0.87})
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={
                    **common,
                    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                    semconv.GEN_AI_PROVIDER_NAME: "openai",
                },
            ) as call:
                call.set_attributes({semconv.GEN_AI_USAGE_INPUT_TOKENS: 120, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 30})
            with tracer.start_as_current_span(
                "crm.lead.create",
                context=set_span_in_context(span),
                kind=SpanKind.CLIENT,
                attributes={**common, semconv.CRM_SYSTEM: "bitrix24", semconv.CRM_ACTION: "lead.create"},
            ) as crm:
                crm.set_attributes({semconv.CRM_ENTITY_ID: "4521", semconv.CRM_OUTCOME: "success"})
            span.set_attribute(semconv.SLA_BREACHED, False)

    def flush() -> None:
        provider.force_flush()
        provider.shutdown()

    return turn, flush


def botwatch_turn_factory(endpoint: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    import botwatch

    botwatch.init(service_name="bench", endpoint=endpoint, capture_loguru=False)
    conversations: dict[int, Any] = {}

    def turn(n: int) -> None:
        key = n % CONVERSATIONS
        conv = conversations.get(key)
        if conv is None:
            conv = conversations[key] = botwatch.conversation(f"sess_{key}", channel="whatsapp").__enter__()
        with conv.turn(None) as turn:
            turn.intent("booking", confidence=0.87)
            with turn.llm(model="gpt-4o-mini", provider="openai") as call:
                call.usage(input_tokens=120, output_tokens=30)
            with turn.crm("lead.create", system="bitrix24") as action:
                action.entity_id = "4521"
            turn.reply("Записал на 15:00, отправил напоминание")

    def flush() -> None:
        for conv in reversed(list(conversations.values())):
            conv.__exit__(None, None, None)
        botwatch.shutdown()

    return turn, flush


def pace_loop(turn: Callable[[int], None], turns: int, rate: float | None) -> tuple[list[int], list[int]]:
    """Run ``turns`` turns, back to back or at ``rate`` per second; (wall ns, bot-thread CPU ns) per turn."""
    wall: list[int] = []
    cpu: list[int] = []
    due = time.perf_counter()
    for n in range(turns):
        if rate:
            due += 1 / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        turn(n)
        wall.append(time.perf_counter_ns() - t0)
        cpu.append(time.thread_time_ns() - c0)
    return wall, cpu


def worker(kind: str, endpoint: str, turns: int, rate: float | None) -> dict[str, float]:
    """One measurement in this process: ``turns`` turns after a warm-up, then flush everything."""
    factory = bare_turn_factory if kind == "bare" else botwatch_turn_factory
    turn, flush = factory(endpoint)
    for n in range(WARM_UP):
        turn(n)
    cpu_started = time.process_time()
    wall, cpu = pace_loop(turn, turns, rate)
    flush()
    process_cpu = time.process_time() - cpu_started
    wall.sort()
    return {
        "mean_us": statistics.fmean(wall) / 1e3,
        "p50_us": wall[len(wall) // 2] / 1e3,
        "p99_us": wall[int(len(wall) * 0.99)] / 1e3,
        "thread_cpu_us": statistics.fmean(cpu) / 1e3,
        "process_cpu_us": process_cpu / turns * 1e6,
    }


# -- the parent: receiver, baseline checkout, rounds ----------------------------------
def expected(kind: str, turns: int) -> tuple[int, int]:
    """Spans and log records a contender must deliver for ``turns`` turns after the warm-up.

    Three spans a turn; botwatch also a root span and a conversation_started
    record for each of its conversations, and bot.replied and crm.action
    records a turn.
    """
    total = turns + WARM_UP
    if kind == "bare":
        return 3 * total, 0
    return 3 * total + CONVERSATIONS, 2 * total + CONVERSATIONS


def baseline_tree(ref: str, into: Path) -> Path:
    """The botwatch package as it was at ``ref``, exported into ``into``; the directory to put on the path."""
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    inits = sorted((p for p in listing if p.endswith("botwatch/__init__.py")), key=len)
    if not inits:
        raise SystemExit(f"{ref}: no botwatch package in that commit")
    package = inits[0].removesuffix("/__init__.py")
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), ref, package], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return (into / package).parent


def run_worker(
    kind: str, path: Path | None, endpoint: str, turns: int, rate: float | None, env: dict[str, str]
) -> dict[str, float]:
    environment = dict(env)
    if path is not None:
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, (str(path), env.get("PYTHONPATH"))))
    command = [sys.executable, __file__, "--worker", kind, "--endpoint", endpoint, "--turns", str(turns)]
    if rate:
        command += ["--rate", str(rate)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


ROWS = (
    ("mean_us", "bot waits, mean µs"),
    ("p50_us", "bot waits, p50 µs"),
    ("p99_us", "bot waits, p99 µs"),
    ("thread_cpu_us", "bot thread CPU, µs"),
    ("process_cpu_us", "process CPU, µs"),
    ("receiver_cpu_us", "receiver CPU (apart), µs"),
)
CONTENDERS = ("bare", "before", "after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=3000, help="turns per measurement (3000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported (5)")
    parser.add_argument("--rate", type=float, default=500.0, help="turns/s of the paced load (500)")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of 'before' (the commit before issue 18)")
    parser.add_argument("--loads", default="paced,back-to-back", help="paced and/or back-to-back")
    parser.add_argument("--no-endpoint-down", action="store_true", help="skip the endpoint-down latency check")
    parser.add_argument("--worker", choices=("bare", "botwatch"), help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.endpoint, args.turns, args.rate or None)))
        return

    sys.path.insert(0, str(ROOT / "tests"))
    from otlp_receiver import OTLPReceiver

    env = dict(os.environ)
    env["BOTWATCH_SECRET"] = "bench-secret-0123456789"
    env["OTEL_METRIC_EXPORT_INTERVAL"] = "1000"
    # The same batch processors for all, with room for a whole run: a contender that drops
    # spans when its queue is full would look cheaper than it is.
    room = str(5 * (args.turns + WARM_UP) + 10_000)
    env["OTEL_BSP_MAX_QUEUE_SIZE"] = env["OTEL_BLRP_MAX_QUEUE_SIZE"] = room
    loads = [(name, args.rate if name == "paced" else None) for name in args.loads.split(",")]

    with tempfile.TemporaryDirectory() as scratch:
        env.setdefault("BOTWATCH_SECRET_FILE", os.path.join(scratch, "secret"))
        baseline = baseline_tree(args.baseline_ref, Path(scratch))
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", args.baseline_ref], capture_output=True, text=True
        ).stdout.strip()
        print(f"before = {args.baseline_ref} ({commit}), exported to {baseline}; after = this working tree", flush=True)
        paths: dict[str, Path | None] = {"bare": None, "before": baseline, "after": None}
        receiver = OTLPReceiver()
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_ in range(args.rounds):
            order = CONTENDERS[round_ % 3 :] + CONTENDERS[: round_ % 3]
            for load, rate in loads:
                line = []
                for name in order:
                    receiver.clear()
                    received_from = time.process_time()
                    kind = "bare" if name == "bare" else "botwatch"
                    result = run_worker(kind, paths[name], receiver.url, args.turns, rate, env)
                    # Requests may still be in flight for a moment after the worker exits.
                    spans, logs = expected(kind, args.turns)
                    deadline = time.monotonic() + 5
                    while time.monotonic() < deadline and (
                        receiver.count("/v1/traces") < spans or receiver.count("/v1/logs") < logs
                    ):
                        time.sleep(0.05)
                    result["receiver_cpu_us"] = (time.process_time() - received_from) / args.turns * 1e6
                    got_spans, got_logs = receiver.count("/v1/traces"), receiver.count("/v1/logs")
                    if got_spans != spans or got_logs != logs:
                        print(f"  {name} delivered {got_spans} of {spans} spans, {got_logs} of {logs} log records")
                    results.setdefault((load, name), []).append(result)
                    line.append(f"{name} {result['mean_us']:.0f}/{result['process_cpu_us']:.0f}")
                bare = results[(load, "bare")][-1]
                ratios = "  ".join(
                    f"{name}: wait {results[(load, name)][-1]['mean_us'] / bare['mean_us']:.2f}x "
                    f"cpu {results[(load, name)][-1]['process_cpu_us'] / bare['process_cpu_us']:.2f}x"
                    for name in ("before", "after")
                )
                print(
                    f"round {round_ + 1}/{args.rounds} {load:<12} µs mean wait/process CPU: {', '.join(line)}"
                    f"  |  {ratios}",
                    flush=True,
                )
        report(results, loads)
        if not args.no_endpoint_down:
            endpoint_down(results, args, env)
        receiver.close()


def report(results: dict[tuple[str, str], list[dict[str, float]]], loads: list[tuple[str, float | None]]) -> None:
    def values(load: str, name: str, key: str) -> list[float]:
        return [r[key] for r in results[(load, name)]]

    def ratios(load: str, name: str, key: str) -> list[float]:
        """Per-round ratios to the bare run of the same round."""
        return [r[key] / b[key] for r, b in zip(results[(load, name)], results[(load, "bare")], strict=True)]

    def spread(xs: list[float], fmt: str) -> str:
        return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}–{max(xs):{fmt}})"

    for load, rate in loads:
        title = f"paced, {rate:.0f} turns/s (a busy bot)" if rate else "back to back (export cannot keep up)"
        print(f"\n{title}; medians of {len(results[(load, 'bare')])} rounds (min–max)")
        print(f"  {'':<26}{'bare SDK':>20}{'before':>20}{'after':>20}")
        for key, label in ROWS:
            cells = "".join(f"{spread(values(load, name, key), '.1f'):>20}" for name in CONTENDERS)
            print(f"  {label:<26}{cells}")
        print("  ratio to bare, per-round median (min–max):")
        for key, label in ROWS[:5]:
            before, after = ratios(load, "before", key), ratios(load, "after", key)
            print(f"    {label:<24}{'before ' + spread(before, '.2f'):>26}{'after ' + spread(after, '.2f'):>26}")
    load = loads[0][0]
    cpu, wait = ratios(load, "after", "process_cpu_us"), ratios(load, "after", "mean_us")
    cpu_before, wait_before = ratios(load, "before", "process_cpu_us"), ratios(load, "before", "mean_us")
    print(
        f"\ntargets ({load}): process CPU <= {TARGET_PROCESS_CPU}x bare: "
        f"{'met' if statistics.median(cpu) <= TARGET_PROCESS_CPU else 'NOT met'} "
        f"(after {statistics.median(cpu):.2f}x, before {statistics.median(cpu_before):.2f}x); "
        f"bot's mean wait <= {TARGET_MEAN_WAIT}x bare: "
        f"{'met' if statistics.median(wait) <= TARGET_MEAN_WAIT else 'NOT met'} "
        f"(after {statistics.median(wait):.2f}x, before {statistics.median(wait_before):.2f}x)"
    )


def endpoint_down(results: dict[tuple[str, str], list[dict[str, float]]], args: Any, env: dict[str, str]) -> None:
    print("\nendpoint down (nothing listens on 127.0.0.1:9) vs up, botwatch after, paced:")
    down_env = {**env, "OTEL_EXPORTER_OTLP_TIMEOUT": "2"}
    down = run_worker("botwatch", None, "http://127.0.0.1:9", args.turns, args.rate, down_env)
    up = statistics.median(r["p99_us"] for r in results[(args.loads.split(",")[0], "after")])
    added = down["p99_us"] - up
    print(f"  p99 up {up:.1f} µs, down {down['p99_us']:.1f} µs, added {added:+.1f} µs (target < 1000 µs)")


if __name__ == "__main__":
    main()
