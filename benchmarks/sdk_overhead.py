"""Per-turn cost of the full botwatch API against bare opentelemetry-sdk, same run, same exporter.

A "turn" in botwatch: turn + intent + llm (usage) + crm + reply + its
metrics and log records.  The baseline: bare opentelemetry-sdk creating
the same three spans with the same attributes, through the same OTLP/HTTP
exporter to the same in-process receiver.  Reports the caller's time per
turn (what the bot waits for) and the total with export (what the machine
pays), and the ratio.  Then the turn latency added while the OTLP endpoint
is down (target: p99 under 1 ms more than with it up).

    python benchmarks/sdk_overhead.py [--turns 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context
from otlp_receiver import OTLPReceiver

import botwatch
from botwatch import semconv


def bare_turn_factory(endpoint: str) -> tuple[Callable[[int], None], Callable[[], None]]:
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
    botwatch.init(service_name="bench", endpoint=endpoint, capture_loguru=False)
    conversations = {}

    def turn(n: int) -> None:
        key = n % 100
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


def measure(
    factory: Callable[[str], tuple[Callable[[int], None], Callable[[], None]]], endpoint: str, turns: int
) -> dict[str, float]:
    turn, flush = factory(endpoint)
    for n in range(200):  # warm-up
        turn(n)
    samples = []
    started = time.perf_counter()
    for n in range(turns):
        t0 = time.perf_counter_ns()
        turn(n)
        samples.append(time.perf_counter_ns() - t0)
    caller = time.perf_counter() - started
    flush()
    total = time.perf_counter() - started
    samples.sort()
    return {
        "caller_us": caller / turns * 1e6,
        "total_us": total / turns * 1e6,
        "p50_us": samples[len(samples) // 2] / 1e3,
        "p99_us": samples[int(len(samples) * 0.99)] / 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["BOTWATCH_SECRET"] = "bench"
    os.environ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000"
    receiver = OTLPReceiver()
    results: dict[str, list[dict[str, float]]] = {"bare": [], "botwatch": []}
    for round_ in range(args.rounds):
        for name, factory in (("bare", bare_turn_factory), ("botwatch", botwatch_turn_factory)):
            print(f"round {round_ + 1}/{args.rounds}: {name} x {args.turns} turns ...", flush=True)
            results[name].append(measure(factory, receiver.url, args.turns))
            receiver.clear()

    def best(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\n{'per turn':<22}{'bare SDK':>12}{'botwatch':>12}{'ratio':>8}")
    for key, label in (
        ("caller_us", "caller time, µs"),
        ("total_us", "with export, µs"),
        ("p50_us", "p50, µs"),
        ("p99_us", "p99, µs"),
    ):
        bare, ours = best("bare", key), best("botwatch", key)
        print(f"{label:<22}{bare:>12.1f}{ours:>12.1f}{ours / bare:>7.2f}x")

    print("\nendpoint down (nothing listens on 127.0.0.1:9) vs up, botwatch:")
    os.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "2"
    down = measure(botwatch_turn_factory, "http://127.0.0.1:9", args.turns)
    up = results["botwatch"][-1]
    added = down["p99_us"] - up["p99_us"]
    print(f"  p99 up {up['p99_us']:.1f} µs, down {down['p99_us']:.1f} µs, added {added:+.1f} µs (target < 1000 µs)")
    receiver.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as home:
        os.environ.setdefault("BOTWATCH_SECRET_FILE", os.path.join(home, "secret"))
        main()
