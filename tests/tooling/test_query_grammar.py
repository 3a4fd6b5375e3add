"""Every LogQL, TraceQL and PromQL query botwatch ships parses with the grammars Grafana's editors use.

querycheck/check.mjs runs @grafana/lezer-logql, @grafana/lezer-traceql and
@prometheus-io/lezer-promql and adds what Loki, Prometheus and Tempo refuse although the
grammar accepts it: a stream (vector) selector without a matcher that needs a non-empty
value, a string literal Go cannot unquote, a regex RE2 cannot compile.  Dashboard queries
are checked after Grafana's variable substitution, once with "All" and once (twice) with
chosen values.  PromQL also runs on the real Prometheus in tests/dashboards/test_dashboards_stack.py.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from querygrammar import shipped
from querygrammar.audit import AWKWARD, audit_queries, every_filter, source_methods
from querygrammar.checker import LANGUAGES, Query, Verdict, check
from querygrammar.grafana import MODES, UnknownVariable, render


def _report(capsys: pytest.CaptureFixture[str], title: str, checked: list[Verdict]) -> None:
    counts = Counter(v.query.lang for v in checked)
    with capsys.disabled():
        print(f"\n{title}: {len(checked)} checked, " + ", ".join(f"{counts[lang]} {lang}" for lang in LANGUAGES))


def _failures(verdicts: list[Verdict]) -> str:
    bad = [v.explain() for v in verdicts if v.errors]
    return f"{len(bad)} of {len(verdicts)} queries fail:\n" + "\n".join(bad)


def test_every_shipped_query_parses(capsys):
    dashboards = shipped.dashboard_queries()
    variables = shipped.variable_queries()
    rules = shipped.rule_queries()
    links = shipped.datasource_queries()
    annotations = shipped.annotation_queries()
    # Nothing silently skipped: counted independently of the collectors.
    targets = sum(shipped.count_targets(json.loads(p.read_text())) for p in shipped.DASHBOARDS)
    assert len(dashboards) == targets * len(MODES) and targets > 0
    assert len(variables) == shipped.count_variable_queries() * len(MODES)
    assert len(rules) == shipped.count_rule_exprs() > 0
    assert len(links) == shipped.count_datasource_queries() > 0
    assert len(annotations) == shipped.count_annotations() * len(MODES) > 0

    verdicts = check(dashboards + variables + rules + links + annotations)
    renderings = "/".join(MODES)
    _report(capsys, f"{targets} dashboard targets × {len(MODES)} ({renderings})", verdicts[: len(dashboards)])
    _report(
        capsys,
        f"{len(variables) // len(MODES)} variable queries × {len(MODES)}, {len(rules)} alert/recording rules, "
        f"{len(links)} data source links, {len(annotations) // len(MODES)} annotation queries × {len(MODES)}",
        verdicts[len(dashboards) :],
    )
    assert {v.query.lang for v in verdicts} == set(LANGUAGES)
    assert not any(v.errors for v in verdicts), _failures(verdicts)


def test_every_audit_query_parses(capsys):
    sent: dict[str, list[Query]] = {}
    for method, queries in audit_queries():
        sent.setdefault(method, []).extend(queries)
    assert set(sent) == source_methods()
    assert len(sent["sessions"]) >= len(every_filter()) * 3  # each filter, each service: at least one search
    distinct = list({(x.lang, x.text): x for queries in sent.values() for x in queries}.values())
    assert AWKWARD.split("\n")[0].split('"')[1] in "".join(x.text for x in distinct)  # awkward values reached

    verdicts = check(distinct)
    assert len(verdicts) == len(distinct)
    _report(capsys, f"audit queries: {sum(map(len, sent.values()))} sent by {len(sent)} Source methods", verdicts)
    assert {v.query.lang for v in verdicts} == set(LANGUAGES)
    assert not any(v.errors for v in verdicts), _failures(verdicts)


@pytest.mark.parametrize(
    ("lang", "query", "rule", "column"),
    [
        ("logql", '{service_name="bot"} | botwatch_channel = "telegram"', None, None),
        ("logql", '{service_name="bot" | botwatch_channel = "telegram"', "syntax", 21),
        ("logql", 'sum(count_over_time({service_name="bot"} [5m])', "syntax", 47),
        ("logql", '{service_name=~".*"} | botwatch_event = "crm.action"', "loki-empty-selector", 1),
        ("logql", '{service_name=""}', "loki-empty-selector", 1),
        ("logql", '{service_name="bot", channel!="x"} |~ "(unclosed"', "regex", 36),
        ("traceql", '{ resource.service.name = "bot" && span.botwatch.channel =~ "telegram" }', None, None),
        ("traceql", '{ resource.service.name = "bot" && }', "syntax", 36),
        ("traceql", '{ name = "turn" } | select(span.a', "syntax", 34),
        ("traceql", '{ span.gen_ai.conversation.id = "a\nb" }', "string", 33),
        ("promql", 'sum by (le) (rate(botwatch_turn_duration_seconds_bucket{le=~"3(\\\\.0+)?"}[5m]))', None, None),
        ("promql", "sum by (le) (rate(botwatch_turn_duration_seconds_bucket[5m])", "syntax", 61),
        ("promql", 'rate(x{le=~"3(\\.0+)?"}[5m])', "string", 12),
        ("promql", '{job=~".*"}', "prometheus-empty-selector", 1),
    ],
)
def test_the_checker_catches_mistakes(lang, query, rule, column):
    (verdict,) = check([Query(lang, query, "hand-written")])
    if rule is None:
        assert not verdict.errors, verdict.explain()
        return
    assert verdict.errors, f"{lang} accepted a broken query: {query!r}"
    first = verdict.errors[0]
    assert (first["rule"], first["column"]) == (rule, column), verdict.explain()


def test_a_broken_copy_of_each_shipped_query_fails():
    """Delete the last bracket of every shipped query (or end a bare name with "+"): each must fail."""
    queries = shipped.dashboard_queries() + shipped.rule_queries()
    broken = []
    for x in queries:
        cut = max(x.text.rfind(c) for c in ")}]")
        text = x.text[:cut] + x.text[cut + 1 :] if cut >= 0 else x.text + " +"
        broken.append(Query(x.lang, text, x.where))
    verdicts = check(broken)
    assert {v.query.lang for v in verdicts} == set(LANGUAGES)
    assert all(v.errors for v in verdicts), _failures([v for v in verdicts if not v.errors])


def test_all_bots_is_a_selector_loki_accepts():
    """The audit dashboard's Loki panels with "All" bots: with the old ".*" Loki refuses them, now it does not."""
    path = shipped.REPO / "dashboards" / "json" / "botwatch-audit.json"
    variables = json.loads(path.read_text())["templating"]["list"]
    old_vars = [{**v, "allValue": ".*"} if v["name"] == "job" else v for v in variables]
    panels = [text for ds, text, _ in shipped.dashboard_targets(path) if ds == "loki"]
    assert len(panels) == 2
    old = check([Query("logql", render(t, old_vars, "loki", "all"), "old") for t in panels])
    new = check([Query("logql", render(t, variables, "loki", "all"), "now") for t in panels])
    assert all([e["rule"] for e in v.errors] == ["loki-empty-selector"] for v in old), _failures(old)
    assert not any(v.errors for v in new), _failures(new)


@pytest.mark.parametrize("text", ["$nope", "${job:unknownformat}", "${__span.tags.x}", "[[missing]]", "$__from"])
def test_an_unknown_variable_fails(text):
    board = json.loads((shipped.REPO / "dashboards" / "json" / "botwatch-audit.json").read_text())
    with pytest.raises(UnknownVariable):
        render(f'{{service_name=~"{text}"}}', board["templating"]["list"], "loki", "one")


def test_variables_render_as_grafana_sends_them():
    variables = json.loads((shipped.REPO / "dashboards" / "json" / "botwatch-overview.json").read_text())
    variables = variables["templating"]["list"]
    text = 'x{job=~"$job", model=~"${model}"}[$__rate_interval]'
    assert render(text, variables, "prometheus", "all") == 'x{job=~".+", model=~".*"}[1m]'
    assert render(text, variables, "prometheus", "one") == 'x{job=~"salon-bot", model=~"gpt-4\\\\.1-mini"}[30s]'
    assert render(text, variables, "prometheus", "two") == (
        'x{job=~"(salon-bot|clinic\\\\.bot-2)", model=~"(gpt-4\\\\.1-mini|yandexgpt/rc)"}[30s]'
    )
    assert render('{ span.m =~ "$model" }', variables, "tempo", "two") == '{ span.m =~ "gpt-4.1-mini|yandexgpt/rc" }'


def test_the_regex_format_is_escaped_for_the_regex_not_the_string():
    """``${model:regex}`` gives ``gpt-4\\.1-mini``: inside a PromQL string ``\\.`` is an unknown escape."""
    variables = json.loads((shipped.REPO / "dashboards" / "json" / "botwatch-funnel.json").read_text())
    variables = variables["templating"]["list"]
    assert render("${channel:regex}", variables, "loki", "all") == ".*"
    assert render("${channel:regex}", variables, "loki", "two") == "(telegram|whatsapp)"
    text = render('x{gen_ai_request_model=~"${model:regex}"}', variables, "prometheus", "one")
    assert text == 'x{gen_ai_request_model=~"gpt-4\\.1-mini"}'
    (verdict,) = check([Query("promql", text, "regex format")])
    assert [e["rule"] for e in verdict.errors] == ["string"], verdict.explain()
