"""The tenants file: parsing, validation errors, and what renders from it (Alertmanager routes, target series).

The rendered Alertmanager config is checked by the pinned ``amtool check-config``
and routed with ``amtool config routes test``; the rendered rules by
``promtool check rules``.  alerts/tests/tenants_test.yml runs the alert rules on
the committed rendering of deploy/tenants.example.toml (checked fresh here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from harness import binaries
from harness.alert_stack import scaled_rules
from harness.alertmanager import CONFIG as ALERTMANAGER_CONFIG
from harness.paths import REPO
from harness.ports import PORT_OPTIONS, free_ports

from botwatch import tenants
from botwatch.gateway import gateway_config
from botwatch.stack import alertmanager_process, tenant_routes, tenant_rules, yamlfile
from botwatch.tenants import Tenants, TenantsError

EXAMPLE = REPO / "deploy" / "tenants.example.toml"
FIXTURE = REPO / "alerts" / "tests" / "fixtures" / "tenant_targets.yml"

GOOD = """
[[tenants]]
id = "a"
token = "aaaaaaaaaaaaaaaaaaaa"
[tenants.owner]
chat_id = -1001
[tenants.targets]
sla_seconds = 5

[[tenants]]
id = "b"
[tenants.owner]
chat_id = "-1002"
thread_id = 3
"""


def _load(tmp_path: Path, text: str) -> Tenants:
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    return tenants.load(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(TenantsError) as caught:
        _load(tmp_path, text)
    return str(caught.value)


def test_example_parses_and_the_gateway_reads_the_same_file() -> None:
    found = tenants.load(EXAMPLE)
    assert found.ids == ("salon-1", "clinic-2")
    salon, clinic = found.tenants
    assert salon.owner.chat_id == -1001000000001 and salon.managers is not None
    assert salon.targets.sla_seconds == 5 and salon.targets.confidence_floor == 0.5
    assert salon.language == "ru" and salon.label_budget == 300 and salon.retention_days == 90
    assert clinic.language == "en" and clinic.owner.thread_id == 7 and clinic.managers is None
    assert clinic.targets.confidence_floor is None
    env = {
        "SALON1_TOKEN": "s" * 20,
        "CLINIC2_TOKEN": "c" * 20,
        "CLINIC2_SECRET": "x" * 20,
        "CLINIC2_BITRIX": "https://example.bitrix24.ru/rest/1/abcdef/",
    }
    gateway = gateway_config.load(EXAMPLE, env=env, state_path=None)
    assert [t.id for t in gateway.tenants] == ["salon-1", "clinic-2"]
    assert gateway.tenants[1].bitrix24 is not None


def test_defaults_and_string_chat_ids(tmp_path: Path) -> None:
    found = _load(tmp_path, GOOD)
    b = found.get("b")
    assert b.owner == tenants.Chat(-1002, 3) and b.language == "ru" and b.targets == tenants.Targets()
    with pytest.raises(TenantsError, match=r"unknown tenant 'c' \(known: a, b\)"):
        found.get("c")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("chat_id = -1001\n", ""), "tenant a: owner.chat_id: missing"),
        (("chat_id = -1001\n", 'chat_id = "@salon"\n'), "tenant a: owner.chat_id: '@salon' is not a Telegram chat id"),
        (("chat_id = -1001\n", "chat_id = 0\n"), "tenant a: owner.chat_id: 0 is not a Telegram chat id"),
        (("thread_id = 3\n", "thread_id = -3\n"), "tenant b: owner.thread_id: must be a positive topic id"),
        (("sla_seconds = 5\n", "sla_seconds = 4.5\n"), "tenant a: targets.sla_seconds: 4.5 is not a bucket edge"),
        (("sla_seconds = 5\n", "lead_failure_share = 1.5\n"), "tenant a: targets.lead_failure_share: 1.5 is out"),
        (("sla_seconds = 5\n", "confidence_floor = 0.65\n"), "tenant a: targets.confidence_floor: 0.65 is not"),
        (("sla_seconds = 5\n", "sla_second = 5\n"), "tenant a: targets: unknown key: sla_second"),
        (('id = "b"\n', 'id = "a"\n'), "tenant a: id: listed twice"),
        (('id = "b"\n', 'id = "B b"\n'), "tenants entry 2: id: 'B b' is not a tenant id"),
        (('id = "b"\n', 'id = "b"\nlanguage = "de"\n'), "tenant b: language: 'de' is not one of ru, en"),
        (('id = "b"\n', 'id = "b"\nlanguag = "en"\n'), "tenant b: unknown key: languag"),
        (('id = "b"\n', 'id = "b"\nlabel_budget = 5\n'), "tenant b: label_budget: 5 is out of range"),
        (('id = "b"\n', 'id = "b"\nretention_days = "90"\n'), "tenant b: retention_days: '90' is not a whole"),
    ],
)
def test_validation_names_the_tenant_and_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    error = _error(tmp_path, GOOD.replace(old, new, 1))
    assert error.startswith(f"tenants file {tmp_path / 'tenants.toml'}: ")
    assert message in error


def test_the_owner_chat_is_required_and_the_file_must_parse(tmp_path: Path) -> None:
    assert "tenant b: owner: missing" in _error(tmp_path, GOOD.split('[tenants.owner]\nchat_id = "-1002"')[0])
    assert "not valid TOML" in _error(tmp_path, "[[tenants]\n")
    assert "no [[tenants]] tables" in _error(tmp_path, "[gateway]\nmax_batch = 5\n")
    with pytest.raises(TenantsError, match="cannot read it"):
        tenants.load(tmp_path / "absent.toml")


def test_a_reference_to_an_unknown_tenant_is_an_error(tmp_path: Path) -> None:
    found = _load(tmp_path, GOOD)
    found.check_references({"a": "alerts/rules/x.yml"})
    with pytest.raises(TenantsError, match=r"alerts/rules/x.yml: unknown tenant 'zz'"):
        found.check_references({"zz": "alerts/rules/x.yml"})


# --- rendering ---------------------------------------------------------------------------------------------
def _routes(tmp_path: Path, found: Tenants) -> Path:
    token = tmp_path / "token"
    token.write_text("123:abc")
    base = alertmanager_process.render_config(ALERTMANAGER_CONFIG, "http://127.0.0.1:9", token, -100)
    return yamlfile.dump(tenant_routes.apply(base, found), tmp_path / "alertmanager.yml")


def test_routes_one_receiver_per_tenant_with_its_chat(tmp_path: Path) -> None:
    config = yaml.safe_load(_routes(tmp_path, tenants.load(EXAMPLE)).read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    salon = receivers["tenant-salon-1"]["telegram_configs"][0]
    clinic = receivers["tenant-clinic-2"]["telegram_configs"][0]
    assert salon["chat_id"] == -1001000000001 and "message_thread_id" not in salon
    assert clinic["chat_id"] == -1001000000003 and clinic["message_thread_id"] == 7
    assert receivers["telegram"]["telegram_configs"][0]["chat_id"] == -100  # the default, for alerts without tenant
    route = config["route"]
    assert route["receiver"] == "telegram" and route["group_by"][0] == "botwatch_tenant"
    by_receiver = {r["receiver"]: r for r in route["routes"]}
    tenant_matcher, not_pipeline = by_receiver["tenant-salon-1"]["matchers"]
    assert tenant_matcher == 'botwatch_tenant="salon-1"'
    assert not_pipeline.startswith('alertname!~"') and "BotwatchLabelBudgetExceeded" in not_pipeline
    assert "BotwatchResponseSLABreach" not in not_pipeline
    assert "botwatch_tenant" in by_receiver["tenant-salon-1"]["group_by"]
    assert [r["receiver"] for r in by_receiver["tenant-salon-1"]["routes"]] == ["tenant-salon-1"]
    assert all("botwatch_tenant" in rule["equal"] for rule in config["inhibit_rules"])


def test_routes_pass_amtool_and_route_each_tenant_to_its_receiver(tmp_path: Path, amtool: str) -> None:
    path = _routes(tmp_path, tenants.load(EXAMPLE))
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr

    def route(*labels: str) -> str:
        result = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}", *labels],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout.strip()

    assert route("botwatch_tenant=salon-1", "severity=critical", "alertname=X") == "tenant-salon-1"
    assert route("botwatch_tenant=clinic-2", "severity=warning", "alertname=X") == "tenant-clinic-2"
    assert route("botwatch_tenant=unknown", "severity=warning", "alertname=X") == "telegram"
    assert route("severity=critical", "alertname=X") == "telegram"
    assert route("alertname=Watchdog", "botwatch_tenant=salon-1") == "heartbeat"
    # The pipeline's alerts are the integrator's, even with a tenant on them (a tenant's spent label budget).
    assert route("botwatch_tenant=salon-1", "alertname=BotwatchLabelBudgetExceeded", "severity=warning") == "telegram"
    assert route("botwatch_tenant=salon-1", "alertname=BotwatchCollectorRefusingData") == "telegram"


def test_routes_without_a_token_send_nothing(tmp_path: Path) -> None:
    base = alertmanager_process.render_config(ALERTMANAGER_CONFIG, None, None, None)
    config = tenant_routes.apply(base, tenants.load(EXAMPLE))
    assert all("telegram_configs" not in r for r in config["receivers"])


def test_target_series_render_and_pass_promtool(tmp_path: Path, promtool: str) -> None:
    document = tenant_rules.render(tenants.load(EXAMPLE))
    rules = document["groups"][0]["rules"]
    assert {
        "record": tenant_rules.SLA_SECONDS,
        "expr": "vector(5)",
        "labels": {"botwatch_tenant": "salon-1", "le": "5"},
    } in rules
    assert not any(
        r["labels"]["botwatch_tenant"] == "clinic-2" and r["record"] == tenant_rules.CONFIDENCE_FLOOR for r in rules
    )
    path = yamlfile.dump(document, tmp_path / "tenant_targets.yml")
    check = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert yaml.safe_load(FIXTURE.read_text()) == document, "re-render alerts/tests/fixtures/tenant_targets.yml"


def _buckets_group(document: dict[str, object]) -> dict[str, str] | None:
    """record -> expr of the rendered botwatch-tenant-buckets group; None when it is not rendered."""
    groups = [g for g in document["groups"] if g["name"] == tenant_rules.BUCKETS_GROUP]  # type: ignore[attr-defined]
    assert len(groups) <= 1
    return {r["record"]: r["expr"] for r in groups[0]["rules"]} if groups else None


def test_the_buckets_group_rates_only_the_tenants_with_their_own_edge(tmp_path: Path) -> None:
    """No tenant with its own SLA or floor: no bucket is rated; otherwise only theirs, at the edges they use."""
    nobody = _load(tmp_path, GOOD.replace("sla_seconds = 5", "lead_failure_share = 0.2"))
    assert _buckets_group(tenant_rules.render(nobody)) is None
    ratios = _buckets_group(tenant_rules.render(_load(tmp_path, GOOD)))
    assert ratios is not None and list(ratios) == [tenant_rules.SLA_RATIO]  # "a" has an SLA, nobody a floor
    expr = ratios[tenant_rules.SLA_RATIO]
    assert 'botwatch_turn_duration_seconds_bucket{botwatch_tenant=~"a", le=~"(5)(\\\\.0+)?"}[5m]' in expr, expr
    assert expr.count('botwatch_tenant=~"a"') == 3 and "[5m]" in expr and "[15m]" not in expr
    example = _buckets_group(tenant_rules.render(tenants.load(EXAMPLE)))
    assert example is not None
    assert 'botwatch_tenant=~"clinic-2|salon-1", le=~"(3|5)(\\\\.0+)?"' in example[tenant_rules.SLA_RATIO]
    assert 'botwatch_tenant=~"salon-1", le=~"(0\\\\.5)(\\\\.0+)?"' in example[tenant_rules.FLOOR_RATIO]


def test_the_tenant_ratios_take_the_windows_of_the_rules_they_stand_in_for(tmp_path: Path, promtool: str) -> None:
    """Time-scaled rules (the e2e tests' and the benchmark's) get equally scaled tenant ratios, or the `or` in
    conversations.yml would mix a 10 s default ratio with a 5 min tenant one."""
    scaled = scaled_rules(tmp_path / "scaled", 30)
    written = tenant_rules.write(tenants.load(EXAMPLE), tmp_path / "out", [str(tmp_path / "scaled" / "*.yml")])
    ratios = _buckets_group(yamlfile.load(written))
    assert ratios is not None
    assert "[10s]" in ratios[tenant_rules.SLA_RATIO] and "[5m]" not in ratios[tenant_rules.SLA_RATIO]
    assert "[30s]" in ratios[tenant_rules.FLOOR_RATIO] and "[15m]" not in ratios[tenant_rules.FLOOR_RATIO]
    check = subprocess.run(
        [promtool, "check", "rules", str(written), *map(str, scaled)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    mixed = tmp_path / "mixed" / "conversations.yml"
    mixed.parent.mkdir()
    head, _, tail = (REPO / "alerts" / "rules" / "conversations.yml").read_text().rpartition("seconds_count[5m]")
    mixed.write_text(head + "seconds_count[4m]" + tail)  # the SLA ratio's denominator
    with pytest.raises(TenantsError, match="one range window expected"):
        tenant_rules.write(tenants.load(EXAMPLE), tmp_path / "out", [str(mixed)])


def test_promtool_tenant_cases_fail_without_the_tenant_series(tmp_path: Path, promtool: str) -> None:
    """The tenant unit tests depend on the rendered series: without them they fail (they can fail)."""
    source = (REPO / "alerts" / "tests" / "tenants_test.yml").read_text()
    shutil.copytree(REPO / "alerts" / "rules", tmp_path / "rules")
    (tmp_path / "tests").mkdir()
    copy = tmp_path / "tests" / "tenants_test.yml"
    copy.write_text(source.replace("  - fixtures/tenant_targets.yml\n", ""))
    result = subprocess.run([promtool, "test", "rules", str(copy)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "botwatch_tenant" in result.stdout + result.stderr


# --- the commands ---------------------------------------------------------------------------------------------
# render-tenants writes the collector's logins: the example's token_env variables must be set.
EXAMPLE_TOKENS = {"SALON1_TOKEN": "salon1-write-token-0123456789", "CLINIC2_TOKEN": "clinic2-write-token-0123456789"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **EXAMPLE_TOKENS},
    )


def test_render_tenants_writes_files_amtool_and_promtool_accept(tmp_path: Path, amtool: str, promtool: str) -> None:
    out = tmp_path / "rendered"
    result = _cli("stack", "render-tenants", str(EXAMPLE), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "2 tenant(s)" in result.stderr
    check = subprocess.run([amtool, "check-config", str(out / "alertmanager.yml")], capture_output=True, text=True)
    assert check.returncode == 0 and "1 templates" in check.stdout, check.stdout + check.stderr
    rules = subprocess.run(
        [promtool, "check", "rules", str(out / "tenant_targets.yml")], capture_output=True, text=True
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("sla_seconds = 5", "sla_seconds = 6"))
    refused = _cli("stack", "render-tenants", str(bad), "--out", str(tmp_path / "none"))
    assert refused.returncode == 2 and "tenant a: targets.sla_seconds: 6 is not a bucket edge" in refused.stderr
    assert not (tmp_path / "none").exists()


def test_a_rule_naming_an_unknown_tenant_is_refused(tmp_path: Path) -> None:
    rule = tmp_path / "mine.yml"
    rule.write_text("groups: [{name: x, rules: [{alert: X, expr: 'up{botwatch_tenant=\"zz\"} == 0'}]}]\n")
    found = _load(tmp_path, GOOD)
    with pytest.raises(TenantsError, match=rf"{rule}: unknown tenant 'zz'"):
        tenant_rules.write(found, tmp_path / "out", [str(tmp_path / "*.yml")])
    rule.write_text(rule.read_text().replace('"zz"', '"a"'))
    assert tenant_rules.write(found, tmp_path / "out", [str(tmp_path / "*.yml")]).is_file()


def test_stack_up_refuses_a_bad_tenants_file_before_starting_anything(tmp_path: Path) -> None:
    for find in (binaries.collector_binary, binaries.prometheus_binary):
        find()  # skip (fail in CI) with the build command when one is missing
    bad = tmp_path / "tenants.toml"
    bad.write_text('[[tenants]]\nid = "salon-1"\n')
    directory = tmp_path / "stack"
    ports = dict(zip(PORT_OPTIONS, free_ports(len(PORT_OPTIONS)), strict=True))
    result = _cli("stack", "up", "--dir", str(directory), *(f"{o}={p}" for o, p in ports.items()), f"--tenants={bad}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"tenants file {bad}: tenant salon-1: owner: missing" in result.stderr
    assert not list(directory.glob("run/*.pid")) and not (directory / "stack.json").exists()
