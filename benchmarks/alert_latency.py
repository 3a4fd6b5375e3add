"""Alert latency: seconds from the first faulty turn to the owner's Telegram message.

    .venv/bin/python benchmarks/alert_latency.py [--scale 30] [--rate 8] [--healthy 20]

Runs the real stack of tests/harness/alert_stack.py (SDK → collector → Prometheus
→ Alertmanager → local Telegram Bot API, all on 127.0.0.1) with the same
copies of alerts/rules and alerts/alertmanager.yml, whose ``for:``, range
windows and group timings are divided by ``--scale`` (``--scale 1`` runs them
as written: about 12 minutes).  The simulated bot sends healthy traffic for
``--healthy`` seconds, then every turn gets a slow LLM and a low-confidence
intent and every Bitrix24 lead.create fails, until all three alerts reached
Telegram.

For each alert it prints the time from the first affected turn (or failed
lead) to the first FIRING message, against the theoretical minimum of the
same run, read from the configs that ran:

    SDK metric export interval + collector batch timeout + remote-write flush
    + Prometheus evaluation_interval + the alert's ``for`` + the route's group_wait

The periodic stages (export, batch, flush, evaluation) count one full
interval each, although a favourable phase makes each of them shorter, so a
ratio slightly below 1 is possible.  The hard floor, ``for`` + group_wait, is
printed too, with the measured time over it.  Neither counts the time the
ratio needs to cross its threshold inside its window (at most threshold ×
window at a 100 % fault rate, less with ``rate()`` extrapolation) or to reach
``min_turns``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the harness and the end-to-end test's stack

from harness.alert_stack import (  # noqa: E402
    ALERT_FAULT,
    METRIC_EXPORT_INTERVAL_MS,
    AlertStack,
    LiveBot,
    Message,
    alert_stack,
    duration_ms,
    route_group_wait,
)

COLLECTOR_CONFIG = REPO / "collector" / "config.yaml"
FAULTS = "slow_llm=1@{start:g}s-,low_confidence=1@{start:g}s-,crm_errors=1@{start:g}s-"


def say(message: str) -> None:
    print(message, flush=True)


def seconds(duration: str) -> float:
    return duration_ms(str(duration)) / 1000


def rule_for(stack: AlertStack, alertname: str, severity: str) -> float:
    for path in stack.rule_files:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alertname and rule.get("labels", {}).get("severity") == severity:
                    return seconds(rule.get("for", "0s"))
    raise LookupError(f"no rule {alertname} with severity {severity}")


def minimum(stack: AlertStack, alertname: str, severity: str) -> dict[str, float]:
    """The theoretical minimum's parts, from the configs this run used."""
    collector = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    prometheus = yaml.safe_load(stack.prometheus.config_path.read_text())
    alertmanager = yaml.safe_load(stack.alertmanager_config.read_text())
    return {
        "export": METRIC_EXPORT_INTERVAL_MS / 1000,
        "batch": seconds(collector["processors"]["batch"]["timeout"]),
        "flush": seconds(stack.collector.env["COLLECTOR_REMOTE_WRITE_FLUSH_INTERVAL"]),
        "eval": seconds(prometheus["global"]["evaluation_interval"]),
        "for": rule_for(stack, alertname, severity),
        "group_wait": seconds(route_group_wait(alertmanager, severity)),
    }


def first_firing(messages: list[Message], alertname: str, after: float) -> Message | None:
    return next((m for m in messages if m.alertname == alertname and m.status == "FIRING" and m.at >= after), None)


def progress(stack: AlertStack, bot: LiveBot, fault_start: float) -> str:
    now = time.monotonic()
    states: dict[str, str] = {}
    try:
        for alert in stack.prometheus.client.alerts():
            name = alert["labels"]["alertname"]
            if name in ALERT_FAULT and states.get(name) != "firing":
                states[name] = alert["state"]
    except Exception as error:  # noqa: BLE001 - progress output only
        states = {"prometheus": f"unreachable ({error})"}
    phase = "healthy" if now < fault_start else f"faults +{now - fault_start:.0f}s"
    tally = bot.last.tally if bot.last else None
    sent = f"{tally.conversations} conversations, {tally.turns} turns" if tally else "starting"
    alerts = ", ".join(f"{name} {state}" for name, state in sorted(states.items())) or "no alerts"
    received = sorted({m.alertname for m in stack.telegram.received() if m.status == "FIRING"})
    return f"  [{phase:>12}] {sent} · Prometheus: {alerts} · Telegram: {', '.join(received) or 'nothing yet'}"


def measure(stack: AlertStack, args: argparse.Namespace, workdir: Path) -> dict[str, tuple[Message, float]]:
    faults = FAULTS.format(start=args.healthy)
    bot = LiveBot(
        stack.collector.otlp_http_url, workdir, faults, rate=args.rate, max_seconds=args.healthy + args.timeout + 60
    ).start()
    found: dict[str, tuple[Message, float]] = {}
    try:
        deadline = time.monotonic() + 30
        while bot.started is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if bot.started is None:
            raise SystemExit(f"the simulated bot did not start: {bot.error!r}")
        fault_start = bot.at(args.healthy)
        deadline = fault_start + args.timeout
        next_report = 0.0
        while len(found) < len(ALERT_FAULT) and time.monotonic() < deadline:
            if bot.error is not None:
                raise SystemExit(f"the simulated bot failed: {bot.error!r}")
            messages = stack.telegram.received()
            for alertname, fault in ALERT_FAULT.items():
                first_turn = bot.first_fault.get(fault)
                message = first_firing(messages, alertname, fault_start)
                if alertname not in found and first_turn is not None and message is not None:
                    found[alertname] = (message, first_turn)
                    latency = message.at - first_turn
                    say(f"  → {alertname} ({message.severity}) in Telegram {latency:.1f} s after the first faulty turn")
            if time.monotonic() >= next_report:
                say(progress(stack, bot, fault_start))
                next_report = time.monotonic() + 5
            time.sleep(0.1)
    finally:
        bot.stop()
    return found


def report(stack: AlertStack, found: dict[str, tuple[Message, float]]) -> int:
    say("")
    say(f"{'alert':<30}{'severity':<10}{'measured s':>11}{'minimum s':>11}{'ratio':>7}{'floor s':>9}{'ratio':>7}")
    for alertname in ALERT_FAULT:
        if alertname not in found:
            say(f"{alertname:<30}{'—':<10}{'no message':>11}")
            continue
        message, first_turn = found[alertname]
        parts = minimum(stack, alertname, message.severity)
        measured = message.at - first_turn
        least = sum(parts.values())
        floor = parts["for"] + parts["group_wait"]
        breakdown = " + ".join(f"{name} {value:g}" for name, value in parts.items())
        numbers = f"{measured:>11.1f}{least:>11.1f}{measured / least:>7.2f}{floor:>9.1f}{measured / floor:>7.2f}"
        say(f"{alertname:<30}{message.severity:<10}{numbers}")
        say(f"{'':<40}minimum = {breakdown}; floor = for + group_wait")
    return 0 if len(found) == len(ALERT_FAULT) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=30, help="divide for:, range windows and group timings (30)")
    parser.add_argument("--rate", type=float, default=8.0, help="conversations per second (8)")
    parser.add_argument("--healthy", type=float, default=20.0, help="seconds of healthy traffic first (20)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait after the faults start")
    args = parser.parse_args(argv)
    if args.timeout is None:  # the longest window + for (low confidence: 15m + 10m), twice, plus a minute
        args.timeout = 2 * 25 * 60 / args.scale + 60
    with tempfile.TemporaryDirectory(prefix="botwatch-alert-latency-") as tmp:
        workdir = Path(tmp)
        say(f"alert latency: scale 1/{args.scale:g}, {args.rate:g} conversations/s, faults after {args.healthy:g} s")
        with alert_stack(workdir, args.scale) as stack:
            say(f"  stack up: Prometheus {stack.prometheus.url}, Alertmanager {stack.alertmanager.url}")
            found = measure(stack, args, workdir)
            return report(stack, found)


if __name__ == "__main__":
    sys.exit(main())
