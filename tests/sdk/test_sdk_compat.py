"""botwatch.sdk_compat: every private OpenTelemetry name in one list, and a probe that names what an upgrade broke.

The "upgrade" is simulated on the real installed SDK: a private name is
deleted (or an attribute renamed, a signature changed) with monkeypatch, as a
new release would, and the probe must fail naming exactly that name and the
botwatch feature that degrades, while ``init()`` keeps a bot running.
"""

from __future__ import annotations

import ast
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk import _shared_internal
from opentelemetry.sdk._shared_internal import _processor_metrics

import botwatch
from botwatch import sdk_compat
from botwatch.sdk_compat import NEEDS, SDKIncompatible, probe

PACKAGE = Path(botwatch.__file__).parent


@pytest.fixture(autouse=True)
def fresh_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk_compat, "_checked", None)  # check() runs once per process; each test starts anew


def probe_failure() -> SDKIncompatible:
    with pytest.raises(SDKIncompatible) as raised:
        probe()
    return raised.value


def test_the_installed_sdk_has_every_name_botwatch_relies_on() -> None:
    probe()
    assert sdk_compat.check() == []
    out = subprocess.run([sys.executable, "-m", "botwatch.sdk_compat"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"every name botwatch relies on is there ({len(NEEDS)})" in out.stdout


def test_an_upgrade_without_a_private_class_is_named_with_its_feature(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.metrics import _internal

    monkeypatch.delattr(_internal, "_ProxyMeterProvider")
    error = probe_failure()
    assert [m.name for m in error.missing] == ["opentelemetry.metrics._internal._ProxyMeterProvider"]
    text = str(error)
    assert "opentelemetry.metrics._internal._ProxyMeterProvider" in text and "global" in text
    assert "opentelemetry-sdk 1." in text  # the versions, for the upgrade's bug report
    assert not sdk_compat.meter_provider_unset(object())  # the feature degrades: globals are left alone


def test_an_upgrade_that_renames_a_processor_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _shared_internal.BatchProcessor.__init__

    def renamed(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._capacity = self._max_queue_size
        del self._max_queue_size

    monkeypatch.setattr(_shared_internal.BatchProcessor, "__init__", renamed)
    error = probe_failure()
    assert sorted(m.name for m in error.missing) == [
        "BatchLogRecordProcessor()._batch_processor._max_queue_size",
        "BatchSpanProcessor()._batch_processor._max_queue_size",
    ]
    assert all("back-pressure" in m.feature for m in error.missing)
    # ... and the accessors degrade instead of raising.
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    processor = BatchSpanProcessor(InMemorySpanExporter())
    try:
        assert sdk_compat.batch_queue(processor) is None
        assert sdk_compat.count_drops(processor, "traces", MeterProvider()) is False
    finally:
        processor.shutdown()


def test_an_upgrade_that_changes_a_private_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def create_processor_metrics(signal: str, meter_provider: Any) -> None:  # a parameter less, none keyword-only
        raise AssertionError("the probe must not call a function whose signature changed")

    monkeypatch.setattr(_processor_metrics, "create_processor_metrics", create_processor_metrics)
    error = probe_failure()
    [missing] = error.missing
    assert missing.name == "create_processor_metrics().register_queue_size"
    assert "TypeError" in missing.reason and "otel.sdk.processor" in missing.feature


def test_a_moved_logs_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import opentelemetry.sdk._logs as sdk_logs

    monkeypatch.delattr(sdk_logs, "ReadableLogRecord")
    error = probe_failure()
    assert [m.name for m in error.missing] == ["opentelemetry.sdk._logs.ReadableLogRecord"]
    assert "log records" in error.missing[0].feature


def test_init_warns_once_naming_what_is_missing_and_the_bot_keeps_running(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry._logs import _internal

    monkeypatch.delattr(_internal, "ProxyLoggerProvider")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    with caplog.at_level(logging.WARNING, logger="botwatch"):
        telemetry = botwatch.init(service_name="compat-bot", secret="compat-secret-0123456789")
        try:
            with botwatch.conversation("compat-1", channel="telegram") as conv:
                with conv.turn("Здравствуйте") as turn:
                    turn.reply("Добрый день")
            assert 0 <= telemetry.backlog() <= 1  # the queues are still read
            botwatch.flush()
        finally:
            botwatch.shutdown()
    warnings = [r.getMessage() for r in caplog.records if "lacks what botwatch relies on" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert "opentelemetry._logs._internal.ProxyLoggerProvider" in warnings[0] and "keeps running" in warnings[0]
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        families = dict(db.execute("SELECT family, count(*) FROM spans GROUP BY family").fetchall())
    assert families.get("turn") == 1, families  # the conversation was recorded all the same


def _private_parts(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def test_no_other_module_uses_a_private_opentelemetry_name() -> None:
    """Private names only in sdk_compat; the logs API's underscore modules only for the names NEEDS lists."""
    listed = {need.name for need in NEEDS}
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "sdk_compat.py":
            continue
        where = path.relative_to(PACKAGE)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # An import under `except ImportError:` is a fallback for an older SDK, used only when the probed name is gone.
        fallbacks = {
            id(child)
            for handler in ast.walk(tree)
            if isinstance(handler, ast.ExceptHandler) and ast.unparse(handler.type or ast.Name("")) == "ImportError"
            for child in ast.walk(handler)
        }
        for node in ast.walk(tree):
            if id(node) in fallbacks:
                continue
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
                module = node.module or ""
                for alias in node.names:
                    if module in sdk_compat.LOGS_API_MODULES and f"{module}.{alias.name}" in listed:
                        continue
                    if module == "opentelemetry" and alias.name == "_logs":
                        continue  # the logs API module itself; the names used from it are in NEEDS
                    if _private_parts(module) or alias.name.startswith("_"):
                        offenders.append(f"{where}:{node.lineno} from {module} import {alias.name}")
            elif isinstance(node, ast.Import):
                offenders += [
                    f"{where}:{node.lineno} import {a.name}"
                    for a in node.names
                    if a.name.startswith("opentelemetry") and _private_parts(a.name)
                ]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value.startswith("opentelemetry.") and _private_parts(node.value) and " " not in node.value:
                    offenders.append(f"{where}:{node.lineno} {node.value!r}")
            elif isinstance(node, ast.Attribute) and node.attr in {
                "_batch_processor",
                "_preferred_temporality",
                "_preferred_aggregation",
                "_internal",
                "_shared_internal",
            }:
                offenders.append(f"{where}:{node.lineno} .{node.attr}")
    assert not offenders, "private OpenTelemetry names outside botwatch.sdk_compat:\n" + "\n".join(offenders)


def test_init_does_not_import_grpc_to_check_a_name(tmp_path: Path) -> None:
    """The OTLP/gRPC log exporter is probed by ``python -m botwatch.sdk_compat``, not by every init()."""
    script = (
        "import sys, botwatch\n"
        "botwatch.init(service_name='lean-bot', secret='compat-secret-0123456789')\n"
        "botwatch.shutdown()\n"
        "print('grpc' in sys.modules)\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTWATCH_"))} | {
        "BOTWATCH_JOURNAL": str(tmp_path / "journal.sqlite")
    }
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=environment)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", out.stdout + out.stderr
    assert "lacks what botwatch relies on" not in out.stderr
