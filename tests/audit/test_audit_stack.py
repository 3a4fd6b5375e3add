"""Audit on the stack: the real collector and Prometheus, Loki/Tempo answered from what the collector delivered.

Loki's ``query_range`` and Tempo's ``/api/traces/<id>`` and ``/api/search``
are served by a small local server filled from ``otlp_capture`` (the bytes
the collector sent to Loki's and Tempo's OTLP endpoints), in the response
shapes those APIs document: Loki streams with structured metadata merged
into the labels (dots → underscores), Tempo traces as OTLP/JSON ``batches``
(base64 ids) and search results with ``spanSets``.  Prometheus is real.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from loki_tempo_api import FakeLokiTempo

import botwatch
from botwatch import semconv
from botwatch.cli import main
from botwatch.demo.faults import parse_faults
from botwatch.demo.runner import run_demo

pytestmark = pytest.mark.stack
SERVICE = "audit-salon-bot"
CONVERSATIONS = 40


@pytest.fixture(scope="module")
def delivered(collector, promql, otlp_capture, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1000")
    mp.setenv("BOTWATCH_SECRET", "audit-stack-secret")
    botwatch.init(service_name=SERVICE, endpoint=collector.otlp_http_url)
    try:
        result = run_demo(CONVERSATIONS, None, parse_faults("low_confidence=0.3,crm_errors=0.4,slow_llm=0.3"), 23)
        botwatch.flush()
    finally:
        botwatch.shutdown()
        mp.undo()
    promql.wait_for(f'sum(botwatch_conversations_total{{job="{SERVICE}"}}) >= {CONVERSATIONS}', timeout=30)
    otlp_capture.wait_for(
        lambda: (
            sum(
                1
                for s in otlp_capture.spans()
                if s["name"] == "conversation" and s["resource"].get("service.name") == SERVICE
            )
            >= CONVERSATIONS
        ),
        what="all conversation spans",
    )
    otlp_capture.wait_for(
        lambda: any(
            r["resource"].get("service.name") == SERVICE
            and r["attributes"].get(semconv.LOKI_EVENT_NAME) == semconv.EVENT_BOT_REPLIED
            for r in otlp_capture.log_records()
        ),
        what="log records",
    )
    time.sleep(1.5)  # the last batches
    return result


@pytest.fixture(scope="module")
def fake(delivered, otlp_capture):
    server = FakeLokiTempo(otlp_capture, SERVICE)
    yield server
    server.close()


@pytest.fixture
def stack(fake, prometheus, capsys, monkeypatch):
    monkeypatch.setenv("BOTWATCH_SOURCE", "stack")
    monkeypatch.setenv("BOTWATCH_LOKI_URL", fake.url)
    monkeypatch.setenv("BOTWATCH_TEMPO_URL", fake.url)
    monkeypatch.setenv("BOTWATCH_PROMETHEUS_URL", prometheus.url)
    monkeypatch.setenv("BOTWATCH_AUDIT_SERVICE", SERVICE)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        return code, out.out, out.err

    return run


def captured_conversations(otlp_capture, condition) -> set[str]:
    return {
        s["attributes"][semconv.GEN_AI_CONVERSATION_ID]
        for s in otlp_capture.spans()
        if s["resource"].get("service.name") == SERVICE and condition(s)
    }


def test_sessions_filters_on_tempo(stack, otlp_capture):
    code, out, err = stack("sessions", "--json", "--limit", "200", "--since", "8d")
    assert code == 0, err
    everything = [json.loads(line) for line in out.splitlines()]
    assert len(everything) == CONVERSATIONS
    starts = [s["started_ns"] for s in everything]
    assert starts == sorted(starts, reverse=True)
    low = captured_conversations(
        otlp_capture,
        lambda s: s["name"] == "turn" and s["attributes"].get(semconv.INTENT_CONFIDENCE, 1) < semconv.LOW_CONFIDENCE,
    )
    crm = captured_conversations(otlp_capture, lambda s: s["attributes"].get(semconv.CRM_OUTCOME) == "error")
    assert low and crm
    for flag, expected in (("--low-confidence", low), ("--crm-failed", crm)):
        code, out, _ = stack("sessions", "--json", "--limit", "200", "--since", "8d", flag)
        got = [json.loads(line) for line in out.splitlines()]
        assert {s["conversation_id"] for s in got} == expected
        assert all(s["turns"] >= 1 for s in got)
    code, out, _ = stack("sessions", "--limit", "3", "--since", "8d")
    assert code == 0 and "page 1 · next" in out


def test_replay_export_sample_weekly_on_the_stack(stack, otlp_capture, tmp_path):
    crm = sorted(captured_conversations(otlp_capture, lambda s: s["attributes"].get(semconv.CRM_OUTCOME) == "error"))
    code, out, err = stack("replay", crm[0], "--lang=en")
    assert code == 0, err
    assert f"Conversation {crm[0]}" in out and "client  «" in out and "bot     «" in out and "crm" in out
    events = tmp_path / "events.jsonl"
    code, _, err = stack("export", "--since", "8d", "--format", "jsonl", "--out", str(events))
    assert code == 0, err
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    turns = [s for s in otlp_capture.spans() if s["name"] == "turn" and s["resource"].get("service.name") == SERVICE]
    assert len([r for r in rows if "turn_index" in r and "funnel_stage" not in r]) == len(turns)
    assert any(r.get("crm_error") for r in rows) and all(r["session_id"].startswith("demo-23-") for r in rows)
    code, out, _ = stack("audit", "sample", "--n", "4", "--seed", "2", "--since", "8d", "--json")
    assert code == 0 and len(out.splitlines()) == 4
    code, out, _ = stack("audit", "weekly", "--since", "8d", "--json")
    weekly = [json.loads(line) for line in out.splitlines()]
    assert weekly and all(t["confidence"] < semconv.LOW_CONFIDENCE and t["text"] for t in weekly)


def test_kpi_from_prometheus_matches_the_simulator(stack, delivered, prometheus):
    from datetime import UTC, datetime, timedelta

    from botwatch.audit.prometheus_kpi import Prometheus

    kpi = Prometheus(prometheus.url, SERVICE).kpi(timedelta(days=7), datetime.now(UTC))
    tally = delivered.tally
    assert kpi.conversations == CONVERSATIONS
    assert kpi.turns == tally.turns
    assert kpi.lead_create_failures == tally.lead_failures
    assert kpi.turn_p95_s is not None and kpi.llm_calls > 0


def test_report_on_the_stack(stack, tmp_path):
    out = tmp_path / "report.html"
    code, _, err = stack("report", "--out", str(out))
    assert code == 0, err
    page = out.read_text()
    assert '<html lang="ru">' in page and "Обращения" in page  # the owner's report, in Russian by default
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert re.search(rf"\d+ из {CONVERSATIONS} обращений", text), "the conversion card counts every conversation"
    assert page.count("<img") >= 3  # the day charts, drawn from the stack's numbers


def test_label_reaches_prometheus_and_the_false_positive_panel(stack, collector, promql, otlp_capture, monkeypatch):
    code, out, _ = stack("audit", "weekly", "--since", "8d", "--json")
    turn = json.loads(out.splitlines()[0])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.otlp_http_url)
    monkeypatch.setenv("BOTWATCH_SECRET", "audit-stack-secret")
    code, out, err = stack(
        "audit", "label", turn["conversation_id"], "--turn", str(turn["turn_index"]), "--wrong", "complaint"
    )
    assert code == 0, err
    intent = turn["intent"]
    series = promql.wait_for(
        f'botwatch_reviews_total{{botwatch_review_verdict="wrong",job="botwatch-audit",botwatch_intent="{intent}"}}',
        timeout=30,
    )
    assert series[0]["metric"]["botwatch_review_true_intent"] == "complaint"
    import sys

    from harness.paths import REPO

    sys.path.insert(0, str(REPO))
    from grafanalib._gen import DashboardEncoder

    from dashboards import overview

    board = json.loads(json.dumps(overview.build().to_json_data(), cls=DashboardEncoder))
    panel = next(p for p in board["panels"] if "false positives" in p.get("title", ""))
    expr = panel["targets"][0]["expr"].replace("$job", "botwatch-audit").replace("$__range", "1h")
    expr = re.sub(r"\$\w+", ".*", expr)
    result = promql.wait_for(expr, timeout=30)
    assert any(r["metric"].get("botwatch_intent") == intent and float(r["value"][1]) >= 0 for r in result)
    # The review is in the conversation's trace, with its span event and log record.
    otlp_capture.wait_for(lambda: any(s["name"] == semconv.SPAN_REVIEW for s in otlp_capture.spans()), what="review")
    reviews = [s for s in otlp_capture.spans() if s["name"] == semconv.SPAN_REVIEW]
    convo = next(
        s
        for s in otlp_capture.spans()
        if s["name"] == "conversation"
        and s["attributes"].get(semconv.GEN_AI_CONVERSATION_ID) == turn["conversation_id"]
    )
    assert reviews[-1]["trace_id"] == convo["trace_id"] and reviews[-1]["events"][0][0] == semconv.EVENT_REVIEW


def test_down_or_garbage_sources_are_exit_3(stack, fake, monkeypatch):
    fake.garbage = True
    try:
        code, _, err = stack("sessions", "--since", "8d")
        assert code == 3 and "Tempo at" in err and "not JSON" in err
        code, _, err = stack("export", "--since", "8d", "--quiet")
        assert code == 3 and "Loki at" in err
    finally:
        fake.garbage = False
    monkeypatch.setenv("BOTWATCH_TEMPO_URL", "http://127.0.0.1:9")
    code, _, err = stack("replay", "demo-23-1")
    assert code == 3 and "Tempo at http://127.0.0.1:9 is not reachable" in err
    monkeypatch.setenv("BOTWATCH_PROMETHEUS_URL", "http://127.0.0.1:9")
    code, _, err = stack("report", "--out", "/tmp/never.html")
    assert code == 3 and "Prometheus at http://127.0.0.1:9 is not reachable" in err
    monkeypatch.setenv("BOTWATCH_TEMPO_URL", fake.url)
    code, _, err = stack("replay", "no-such-conversation")
    assert code == 1 and "no conversation 'no-such-conversation'" in err


def test_tenant_on_a_multi_tenant_stack(stack, fake, prometheus, monkeypatch, tmp_path):
    """--tenant sends X-Scope-OrgID to Loki and Tempo and botwatch_tenant to Prometheus; without it the stack's
    401 asks for --tenant, and the tenants file makes it a query over every tenant."""
    fake.tenant = "salon-1"
    fake.orgs.clear()
    try:
        code, out, err = stack("sessions", "--json", "--limit", "200", "--since", "8d", "--tenant", "salon-1")
        assert code == 0, err
        assert len(out.splitlines()) == CONVERSATIONS
        first = json.loads(out.splitlines()[0])["conversation_id"]
        code, out, err = stack("replay", first, "--tenant", "salon-1")
        assert code == 0, err
        assert any(p.startswith("/loki/") for p, _ in fake.orgs) and any(p.startswith("/api/") for p, _ in fake.orgs)
        assert fake.orgs and all(org == "salon-1" for _, org in fake.orgs)

        code, out, err = stack("sessions", "--json", "--since", "8d", "--tenant", "clinic-2")
        assert code == 1 and "no conversations match" in err, err  # the other tenant's Tempo holds nothing

        monkeypatch.delenv("BOTWATCH_TENANTS", raising=False)
        code, _, err = stack("sessions", "--since", "8d")
        assert code == 3 and "401" in err and "no org id" in err and "--tenant" in err, err

        tenants = tmp_path / "tenants.toml"
        tenants.write_text(
            '[[tenants]]\nid = "salon-1"\n[tenants.owner]\nchat_id = 1\n'
            '[[tenants]]\nid = "clinic-2"\n[tenants.owner]\nchat_id = 2\n'
        )
        monkeypatch.setenv("BOTWATCH_TENANTS", str(tenants))
        fake.orgs.clear()
        code, out, err = stack("sessions", "--json", "--limit", "200", "--since", "8d")
        assert code == 0 and len(out.splitlines()) == CONVERSATIONS, err
        assert {org for _, org in fake.orgs} == {"_integrator|salon-1|clinic-2"}
    finally:
        fake.tenant = None

    from datetime import UTC, datetime, timedelta

    from botwatch.audit.prometheus_kpi import Prometheus

    # The demo's series carry no botwatch_tenant: a tenant's numbers are none of them, everyone's are all.
    now = datetime.now(UTC)
    assert Prometheus(prometheus.url, SERVICE).kpi(timedelta(days=7), now).conversations == CONVERSATIONS
    assert Prometheus(prometheus.url, SERVICE, "salon-1").kpi(timedelta(days=7), now).conversations == 0
