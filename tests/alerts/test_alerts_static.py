"""Alert rules and Alertmanager config: promtool, amtool, and names against semconv.

promtool comes from PATH (Debian's prometheus package); amtool is the pinned
build from alerts/build-alertmanager.sh. A missing binary skips locally and
fails in CI (CI=true).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from harness.paths import REPO

from botwatch import semconv
from botwatch.stack import tenant_rules

ALERTS = REPO / "alerts"
RULE_FILES = sorted((ALERTS / "rules").glob("*.yml"))
# What botwatch.stack.tenant_rules renders from deploy/tenants.example.toml (tests/tenants checks it is current):
# its names and labels are checked like the static rules'.
RENDERED_RULES = ALERTS / "tests" / "fixtures" / "tenant_targets.yml"
TEST_FILES = sorted((ALERTS / "tests").glob("*.yml"))
THRESHOLDS_FILE = ALERTS / "rules" / "thresholds.yml"
RUNBOOK = ALERTS / "RUNBOOK.md"
RUNBOOK_URL_PREFIX = "https://github.com/botwatch/botwatch/blob/main/alerts/RUNBOOK.md#"

# The collector's own metrics as its Prometheus endpoint names them
# (collector v0.164 exporterhelper / receiverhelper docs; sums gain _total).
COLLECTOR_SELF_METRICS = frozenset(
    f"otelcol_{component}_{outcome}_{items}_total"
    for component, outcomes in (
        ("receiver", ("accepted", "refused", "failed")),
        ("exporter", ("sent", "send_failed", "enqueue_failed")),
    )
    for outcome in outcomes
    for items in ("spans", "metric_points", "log_records")
) | {"otelcol_exporter_queue_size", "otelcol_exporter_queue_capacity"}
COLLECTOR_LABELS = frozenset({"receiver", "transport", "exporter", "data_type"})
SDK_SELF_METRICS = frozenset({semconv.SDK_SPANS_PROCESSED_PROMETHEUS, semconv.SDK_LOGS_PROCESSED_PROMETHEUS})
SDK_LABELS = frozenset({semconv.prometheus_label(semconv.ERROR_TYPE), "otel_component_type", "otel_component_name"})
# Labels every series may carry: the target/resource labels (botwatch_tenant from the resource's
# botwatch.tenant, collector/config.yaml) and the bucket edge.
STANDARD_LABELS = frozenset(
    {
        semconv.PROMETHEUS_JOB_LABEL,
        semconv.PROMETHEUS_SERVICE_LABEL,
        tenant_rules.TENANT_LABEL,
        "instance",
        "le",
        "__name__",
    }
)
# Labels our own rules add: the alert's severity and the loss ratios' signal.
RULE_LABELS = frozenset({"severity", "otel_signal"})
SEMCONV_LABELS = frozenset(
    label for metric in (*semconv.METRICS, semconv.LABEL_BUDGET_EXCEEDED) for label in metric.prometheus_labels
)
ALLOWED_LABELS = STANDARD_LABELS | RULE_LABELS | SEMCONV_LABELS | COLLECTOR_LABELS | SDK_LABELS
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")


# --- binaries ------------------------------------------------------------------
def _pinned_version(name: str) -> str:
    for line in (REPO / "deploy" / "versions.env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip().lstrip("v")
    raise AssertionError(f"{name}= missing in deploy/versions.env")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


# --- promtool / amtool ------------------------------------------------------------
def test_promtool_check_rules(promtool: str) -> None:
    result = _run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules(promtool: str) -> None:
    result = _run(promtool, "test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_is_the_pinned_version(amtool: str) -> None:
    result = _run(amtool, "--version")
    assert f"version {_pinned_version('ALERTMANAGER_VERSION')} " in result.stdout + result.stderr


def test_amtool_check_config(amtool: str) -> None:
    result = _run(amtool, "check-config", str(ALERTS / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


# --- a small PromQL reader: metric names and label names --------------------------
_TOKEN = re.compile(
    r"""(?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
      |(?P<range>\[[^\]]*\])
      |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[smhdwy]?)
      |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      |(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},])
      |(?P<space>\s+)""",
    re.VERBOSE,
)
_LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})
_AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
)


@dataclass
class Selector:
    metric: str | None
    matchers: dict[str, str] = field(default_factory=dict)  # label -> matched value / regex


@dataclass
class Parsed:
    selectors: list[Selector] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)  # every label name mentioned
    numbers: list[str] = field(default_factory=list)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        assert match, f"cannot tokenize PromQL at {expr[pos : pos + 30]!r}"
        if match.lastgroup != "space":
            out.append((match.lastgroup or "", match.group()))
        pos = match.end()
    return out


def _unquote(text: str) -> str:
    return text[1:-1].encode().decode("unicode_escape") if text[0] != "`" else text[1:-1]


def parse_promql(expr: str) -> Parsed:
    parsed, tokens, i = Parsed(), _tokens(expr), 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "number":
            parsed.numbers.append(text)
        elif kind == "ident" and text in _LABEL_LIST_KEYWORDS and following == "(":
            i += 2
            while tokens[i][1] != ")":
                if tokens[i][0] == "ident":
                    parsed.labels.add(tokens[i][1])
                i += 1
        elif text == "{" or (
            kind == "ident"
            and text not in _KEYWORDS
            and following != "("
            and not (text in _AGGREGATIONS and following in ("by", "without"))
        ):
            selector = Selector(metric=None if text == "{" else text)
            if text != "{":
                i += 1
            if i < len(tokens) and tokens[i][1] == "{":
                i += 1
                while tokens[i][1] != "}":
                    label, _op, value = tokens[i][1], tokens[i + 1][1], tokens[i + 2][1]
                    selector.matchers[label] = _unquote(value)
                    parsed.labels.add(label)
                    i += 4 if tokens[i + 3][1] == "," else 3
            else:
                i -= 1
            if "__name__" in selector.matchers:
                selector.metric = selector.matchers.pop("__name__")
            parsed.selectors.append(selector)
        i += 1
    return parsed


def test_promql_reader_sees_names_and_labels() -> None:
    parsed = parse_promql(
        'sum by (job, botwatch_channel) (rate(x_bucket{le=~"3(\\\\.0+)?", a="b"}[5m])) '
        "/ on() group_left(c) y > 0.5 and sum(z) by (d)"
    )
    assert [s.metric for s in parsed.selectors] == ["x_bucket", "y", "z"]
    assert parsed.selectors[0].matchers == {"le": "3(\\.0+)?", "a": "b"}
    assert parsed.labels == {"job", "botwatch_channel", "le", "a", "c", "d"}
    assert parsed.numbers == ["0.5"]


# --- the rules ----------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    file: Path
    body: dict[str, object]

    @property
    def expr(self) -> str:
        return str(self.body["expr"])

    @property
    def alert(self) -> str | None:
        return self.body.get("alert")  # type: ignore[return-value]


def _rules() -> Iterator[Rule]:
    for path in [*RULE_FILES, RENDERED_RULES]:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for body in group["rules"]:
                yield Rule(path, body)


RULES = list(_rules())
ALERT_RULES = [rule for rule in RULES if rule.alert]
RECORDED = {str(rule.body["record"]) for rule in RULES if "record" in rule.body}
ALERT_NAMES = sorted({str(rule.alert) for rule in ALERT_RULES})


def _template_queries(template: str) -> Iterator[str]:
    """PromQL inside `query "..."` / `printf "..."` calls of an annotation template."""
    for literal in re.findall(r'(?:query|printf)\s+"((?:\\.|[^"\\])*)"', template):
        if not re.match(r"[a-z_:]", literal):  # a number format such as "%.0f"
            continue
        yield literal.replace('\\"', '"').replace("%q", '"x"').replace("%s", "x")


def _uses(rule: Rule) -> list[Parsed]:
    parsed = [parse_promql(rule.expr)]
    for value in dict(rule.body.get("annotations") or {}).values():  # type: ignore[call-overload]
        parsed += [parse_promql(query) for query in _template_queries(str(value))]
    return parsed


def _known_metric(name: str) -> bool:
    # botwatch:tenant:* series and the ratios at tenants' own edges come from the tenants file
    # (botwatch.stack.tenant_rules), rendered at stack up: absent when no tenant sets a target.
    rendered = (*tenant_rules.SERIES, *tenant_rules.RECORDS)
    if name in RECORDED or name in COLLECTOR_SELF_METRICS or name in SDK_SELF_METRICS or name in rendered:
        return True
    try:
        semconv.metric_by_name(name)
    except KeyError:
        return False
    return name in semconv.metric_by_name(name).prometheus_series


@pytest.mark.parametrize("rule", RULES, ids=lambda r: str(r.body.get("alert") or r.body.get("record")))
def test_rule_names_come_from_semconv(rule: Rule) -> None:
    for parsed in _uses(rule):
        for selector in parsed.selectors:
            assert selector.metric, f"selector without a metric name in {rule.expr}"
            assert _known_metric(selector.metric), (
                f"{selector.metric} is neither a semconv Prometheus series, a recording rule, "
                "nor a known collector/SDK self-metric"
            )
            if ":" not in selector.metric and not selector.metric.startswith("otel"):
                metric = semconv.metric_by_name(selector.metric)
                allowed = set(metric.prometheus_labels) | STANDARD_LABELS
                assert set(selector.matchers) <= allowed, (
                    f"{selector.metric} has no label {set(selector.matchers) - allowed}"
                )
        assert parsed.labels <= ALLOWED_LABELS, f"unknown labels {parsed.labels - ALLOWED_LABELS}"
    template_labels = set()
    for value in [*dict(rule.body.get("annotations") or {}).values()]:  # type: ignore[call-overload]
        template_labels |= set(re.findall(r"\$labels\.(\w+)", str(value)))
    assert template_labels <= ALLOWED_LABELS, f"annotations use unknown labels {template_labels - ALLOWED_LABELS}"


def test_bucket_edges_are_the_semconv_thresholds() -> None:
    edges = {
        semconv.TURN_DURATION.prometheus + "_bucket": (semconv.SLA_SECONDS, semconv.TURN_DURATION.buckets),
        semconv.INTENT_CONFIDENCE_METRIC.prometheus + "_bucket": (
            semconv.LOW_CONFIDENCE,
            semconv.INTENT_CONFIDENCE_METRIC.buckets,
        ),
    }
    seen = set()
    for rule in RULES:
        for selector in parse_promql(rule.expr).selectors:
            if selector.metric in edges:
                if "on (botwatch_tenant, le) botwatch:tenant:" in rule.expr:  # a tenant's own edge (rendered)
                    assert rule.file == RENDERED_RULES, rule.expr
                    continue
                edge, buckets = edges[selector.metric]
                assert edge in buckets, f"{edge} is not a bucket boundary of {selector.metric}"
                regex = re.compile(selector.matchers["le"])
                assert regex.fullmatch(f"{edge:g}") and regex.fullmatch(f"{edge:.1f}"), selector.matchers["le"]
                seen.add(selector.metric)
    assert seen == set(edges)


def test_every_recording_rule_is_used() -> None:
    used = {s.metric for rule in RULES for parsed in _uses(rule) for s in parsed.selectors}
    assert RECORDED - used == set()


def test_thresholds_live_in_one_file() -> None:
    for rule in RULES:
        numbers = parse_promql(rule.expr).numbers
        if rule.file == THRESHOLDS_FILE:
            assert "record" in rule.body and rule.body["record"].startswith("botwatch:threshold:")  # type: ignore[union-attr]
        elif rule.alert and rule.alert != "Watchdog":
            assert numbers == [], f"{rule.alert}: literal {numbers}; put thresholds in {THRESHOLDS_FILE.name}"


@pytest.mark.parametrize("rule", ALERT_RULES, ids=lambda r: f"{r.alert}-{r.body['labels']['severity']}")  # type: ignore[index]
def test_alert_has_severity_annotations_and_runbook(rule: Rule) -> None:
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", str(rule.alert)), "alert names are CamelCase"
    labels = dict(rule.body.get("labels") or {})  # type: ignore[call-overload]
    assert labels.get("severity") in {"critical", "warning", "info", "none"}
    annotations = dict(rule.body.get("annotations") or {})  # type: ignore[call-overload]
    for key in REQUIRED_ANNOTATIONS:
        assert str(annotations.get(key, "")).strip(), f"{rule.alert} lacks annotation {key}"
    url = str(annotations["runbook_url"])
    assert url.startswith(RUNBOOK_URL_PREFIX), url
    anchor = url.removeprefix(RUNBOOK_URL_PREFIX)
    headings = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    assert anchor in headings, f"RUNBOOK.md has no heading for #{anchor}"


def _alert_tests() -> Iterator[dict[str, object]]:
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            yield from test.get("alert_rule_test") or []


@pytest.mark.parametrize("alertname", ALERT_NAMES)
def test_alert_is_unit_tested_firing_and_silent(alertname: str) -> None:
    cases = [case for case in _alert_tests() if case["alertname"] == alertname]
    assert any(case.get("exp_alerts") for case in cases), f"no promtool test where {alertname} fires"
    if alertname != "Watchdog":
        assert any(not case.get("exp_alerts") for case in cases), f"no promtool test where {alertname} is silent"
