"""Everything botwatch takes from OpenTelemetry beyond its public API: one list, one probe.

botwatch uses the SDK's public classes everywhere else.  What it cannot get
publicly is read here and nowhere else (``tests/sdk/test_sdk_compat.py`` fails
when another module imports a private OpenTelemetry name), and every such name
is in :data:`NEEDS` with the botwatch feature that degrades without it:

* the processors' export queues (back-pressure for the gateway) and their
  ``otel.sdk.processor.*`` metrics (dropped spans and log records);
* the API's "nothing set yet" proxy providers (botwatch's providers become the
  global ones only when the bot set none);
* a metric exporter's preferred temporality and aggregation (the masking
  wrapper keeps them);
* the ``otel.sdk.exporter.*`` instruments of the semantic conventions'
  incubating package (the OTLP/HTTP exporters' own metrics);
* opentelemetry-util-genai's error hook (``error.type`` of OpenAI spans).

The logs signal's public API lives in underscore modules while the
specification calls it "development" (``opentelemetry._logs``,
``opentelemetry.sdk._logs``, the OTLP ``_log_exporter`` modules).  Modules
import those directly; :data:`LOGS_API_MODULES` names them and :data:`NEEDS`
lists every name botwatch imports from them, so a release that moves one is
named too.

:func:`probe` checks every entry and raises :class:`SDKIncompatible` naming
each missing name and its feature.  ``init()`` calls :func:`check` once: the
same probe (less the names whose import would cost every start-up, ``at_init=False``),
reported as one warning, because every accessor below degrades by
itself (a bot keeps running with one feature less).  ``python -m
botwatch.sdk_compat`` runs the probe and exits 1 when something is missing
(``make try-latest-otel``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import itertools
import logging
import threading
from collections.abc import Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any, ClassVar, Literal
from urllib.parse import urlparse

_log = logging.getLogger("botwatch")

# Modules of the logs signal's public API (underscore-named while the signal is in development).
LOGS_API_MODULES = (
    "opentelemetry._logs",
    "opentelemetry.sdk._logs",
    "opentelemetry.sdk._logs.export",
    "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
)
# opentelemetry-util-genai's hook that botwatch.genai wraps (only with the [openai] extra).
GENAI_ERROR_MODULE = "opentelemetry.util.genai._invocation"
GENAI_ERROR_METHOD = "GenAIInvocation._apply_error_attributes"

_QUEUE = "export queue back-pressure (Telemetry.backlog) and dropped-item metrics (otel.sdk.processor.*)"
_DROPS = "dropped-item metrics of the export queues (otel.sdk.processor.*, alert BotwatchSDKDroppingSpans)"
_GLOBALS = "botwatch's providers becoming the global ones (auto-instrumentation nesting under botwatch)"
_LOGS = "log records (the logs signal: every botwatch log record and the journal's log table)"
_EXPORTER_METRICS = (
    "the OTLP/HTTP exporters' own metrics (otel.sdk.exporter.*, OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED)"
)
_PREFERENCES = "metric exporters' temporality/aggregation preferences behind the masking wrapper (cumulative instead)"
_GENAI = "error.type of OpenAI spans normalised to a class name (opentelemetry-util-genai)"


@dataclass(frozen=True)
class Need:
    """One name botwatch relies on: ``module`` + attribute path, or an attribute of a sample object."""

    name: str  # dotted, as a maintainer would grep for it
    feature: str  # what degrades without it
    optional: str | None = None  # a distribution that must be installed for this to matter
    at_init: bool = True  # False: only the full probe looks (init() would pay for the import)


@dataclass(frozen=True)
class Missing:
    """A :class:`Need` this installation does not satisfy, and why."""

    name: str
    feature: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.reason}) -> degrades: {self.feature}"


class SDKIncompatible(RuntimeError):
    """The installed OpenTelemetry lacks names botwatch relies on; :attr:`missing` lists each one."""

    def __init__(self, missing: list[Missing]) -> None:
        self.missing = missing
        lines = "\n".join(f"  - {item}" for item in missing)
        super().__init__(f"botwatch: OpenTelemetry {installed_versions()} lacks what botwatch relies on:\n{lines}")


def _names(module: str, names: str, feature: str, optional: str | None = None) -> list[Need]:
    return [Need(f"{module}.{name}", feature, optional) for name in names.split()]


# Module-level names (module path + attribute path), then attributes of sample objects (see _samples).
NEEDS: tuple[Need, ...] = (
    *_names("opentelemetry._logs", "LogRecord SeverityNumber get_logger_provider set_logger_provider", _LOGS),
    *_names("opentelemetry.sdk._logs", "LoggerProvider ReadableLogRecord", _LOGS),
    *_names("opentelemetry.sdk._logs.export", "BatchLogRecordProcessor LogRecordExporter LogRecordExportResult", _LOGS),
    # Importing it imports grpc (~80 ms of every init()); an OTLP/gRPC destination imports it itself.
    Need(
        "opentelemetry.exporter.otlp.proto.grpc._log_exporter.OTLPLogExporter", _LOGS + " over OTLP/gRPC", at_init=False
    ),
    Need("opentelemetry.sdk._logs.export.InMemoryLogRecordExporter", _LOGS + " in botwatch.testing"),
    Need("opentelemetry.metrics._internal._ProxyMeterProvider", _GLOBALS),
    Need("opentelemetry._logs._internal.ProxyLoggerProvider", _GLOBALS),
    Need("opentelemetry.sdk._shared_internal._processor_metrics.create_processor_metrics", _DROPS),
    *_names(
        "opentelemetry.semconv._incubating.attributes.otel_attributes.OtelComponentTypeValues",
        "BATCHING_SPAN_PROCESSOR BATCHING_LOG_PROCESSOR OTLP_HTTP_SPAN_EXPORTER OTLP_HTTP_LOG_EXPORTER",
        _DROPS + "; " + _EXPORTER_METRICS,
    ),
    *_names(
        "opentelemetry.semconv._incubating.metrics.otel_metrics",
        "create_otel_sdk_exporter_span_exported create_otel_sdk_exporter_span_inflight "
        "create_otel_sdk_exporter_log_exported create_otel_sdk_exporter_log_inflight "
        "create_otel_sdk_exporter_operation_duration",
        _EXPORTER_METRICS,
    ),
    Need(f"{GENAI_ERROR_MODULE}.{GENAI_ERROR_METHOD}", _GENAI, optional="opentelemetry-util-genai"),
    # Attributes of live SDK objects (checked on samples the probe builds).
    Need("BatchSpanProcessor()._batch_processor._queue", _QUEUE),
    Need("BatchSpanProcessor()._batch_processor._max_queue_size", _QUEUE),
    Need("BatchSpanProcessor()._batch_processor._metrics", _DROPS),
    Need("BatchLogRecordProcessor()._batch_processor._queue", _QUEUE),
    Need("BatchLogRecordProcessor()._batch_processor._max_queue_size", _QUEUE),
    Need("BatchLogRecordProcessor()._batch_processor._metrics", _DROPS),
    Need("create_processor_metrics().register_queue_size", _DROPS),
    Need("MetricExporter()._preferred_temporality", _PREFERENCES),
    Need("MetricExporter()._preferred_aggregation", _PREFERENCES),
)


def installed_versions() -> str:
    """``opentelemetry-sdk 1.45.2, ...``: the distributions the probe is about."""
    found = []
    for dist in ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-semantic-conventions"):
        try:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{dist} (not installed)")
    return ", ".join(found)


def _resolve(dotted: str) -> Any:
    """The object at ``dotted``: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(f"no module {parts[0]!r}")


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _samples() -> Iterator[tuple[str, Any]]:
    """(prefix, object) for every sample whose private attributes :data:`NEEDS` lists."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Spans(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class Metrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 0, **kwargs: Any) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 0) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 0, **kwargs: Any) -> None:
            pass

    yield "MetricExporter()", Metrics()
    processor = BatchSpanProcessor(Spans())
    try:
        yield "BatchSpanProcessor()", processor
    finally:
        processor.shutdown()  # type: ignore[no-untyped-call]
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult

    class Logs(LogRecordExporter):
        def export(self, batch: Any) -> LogRecordExportResult:
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    log_processor = BatchLogRecordProcessor(Logs())
    try:
        yield "BatchLogRecordProcessor()", log_processor
    finally:
        log_processor.shutdown()  # type: ignore[no-untyped-call]
    create = _resolve("opentelemetry.sdk._shared_internal._processor_metrics.create_processor_metrics")
    component = _resolve(
        "opentelemetry.semconv._incubating.attributes.otel_attributes.OtelComponentTypeValues.BATCHING_SPAN_PROCESSOR"
    )
    inspect.signature(create).bind("traces", component, NoOpMeterProvider(), capacity=1, enabled=True)
    yield "create_processor_metrics()", create("traces", component, NoOpMeterProvider(), capacity=1, enabled=True)


def probe(*, at_init: bool = False) -> None:
    """Check every name in :data:`NEEDS` (``at_init``: those init() checks); raise :class:`SDKIncompatible`
    listing each one missing."""
    missing: list[Missing] = []
    by_prefix: dict[str, list[Need]] = {}
    for need in NEEDS:
        if at_init and not need.at_init:
            continue
        if need.name.split(".", 1)[0].endswith(")"):
            by_prefix.setdefault(need.name.split(".", 1)[0], []).append(need)
            continue
        if need.optional and not _installed(need.optional):
            continue
        try:
            _resolve(need.name)
        except (ImportError, AttributeError) as error:
            missing.append(Missing(need.name, need.feature, f"{type(error).__name__}: {error}"))
    seen: set[str] = set()
    try:
        for prefix, sample in _samples():
            seen.add(prefix)
            for need in by_prefix.get(prefix, []):
                target = sample
                try:
                    for attribute in need.name.split(".")[1:]:
                        target = getattr(target, attribute)
                except AttributeError as error:
                    missing.append(Missing(need.name, need.feature, f"AttributeError: {error}"))
    except Exception as error:  # noqa: BLE001 - a sample that cannot be built is itself what changed
        for prefix, needs in by_prefix.items():
            if prefix not in seen:
                missing.extend(
                    Missing(n.name, n.feature, f"sample not built: {type(error).__name__}: {error}") for n in needs
                )
    if missing:
        raise SDKIncompatible(missing)


_checked: list[Missing] | None = None
_check_lock = threading.Lock()


def check() -> list[Missing]:
    """:func:`probe` once per process, reported as one warning; what is missing (empty when all is there)."""
    global _checked
    with _check_lock:
        if _checked is None:
            try:
                probe(at_init=True)
                _checked = []
            except SDKIncompatible as error:
                _checked = error.missing
                _log.warning("%s\nbotwatch keeps running without these features.", error)
        return _checked


# -- accessors: each degrades by itself (None / False / no-op) -----------------


def batch_queue(processor: Any) -> tuple[Sized, int] | None:
    """The queue of a Batch{Span,LogRecord}Processor and its capacity (None if the SDK changed)."""
    batch = getattr(processor, "_batch_processor", None)
    queue, capacity = getattr(batch, "_queue", None), getattr(batch, "_max_queue_size", None)
    if not isinstance(queue, Sized) or not isinstance(capacity, int) or capacity <= 0:
        return None
    return queue, capacity


def count_drops(processor: Any, signal: Literal["traces", "logs"], meter_provider: Any) -> bool:
    """Attach the SDK's processor metrics to a Batch{Span,LogRecord}Processor; False if the SDK changed.

    opentelemetry-sdk reports its processors' health (``otel.sdk.processor.*``:
    items processed, dropped with ``error.type=queue_full``, queue size and
    capacity), but its switch (``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``)
    also turns on per-span counters that cost more than the bot's own metrics.
    This attaches only the processor metrics: one measurement per exported
    batch and one per dropped item, nothing on the hot path of a healthy bot.
    """
    try:
        create = _resolve("opentelemetry.sdk._shared_internal._processor_metrics.create_processor_metrics")
        types = _resolve("opentelemetry.semconv._incubating.attributes.otel_attributes.OtelComponentTypeValues")
        batch = processor._batch_processor
        if not hasattr(batch, "_metrics"):
            return False
        component = types.BATCHING_SPAN_PROCESSOR if signal == "traces" else types.BATCHING_LOG_PROCESSOR
        metrics = create(signal, component, meter_provider, capacity=batch._max_queue_size, enabled=True)
        queue = batch._queue
        metrics.register_queue_size(lambda: len(queue))
        batch._metrics = metrics
        return True
    except (ImportError, AttributeError, TypeError) as error:  # named once by check()
        _log.debug("botwatch: no dropped-%s metrics with this opentelemetry-sdk (%s)", signal, error)
        return False


def _proxy(dotted: str) -> type | None:
    try:
        found = _resolve(dotted)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) else None


def meter_provider_unset(provider: object) -> bool:
    """True when ``provider`` is the API's placeholder (no MeterProvider set yet); False if unknown."""
    proxy = _proxy("opentelemetry.metrics._internal._ProxyMeterProvider")
    return proxy is not None and isinstance(provider, proxy)


def logger_provider_unset(provider: object) -> bool:
    """True when ``provider`` is the API's placeholder (no LoggerProvider set yet); False if unknown."""
    proxy = _proxy("opentelemetry._logs._internal.ProxyLoggerProvider")
    return proxy is not None and isinstance(provider, proxy)


def metric_preferences(exporter: Any) -> tuple[Any, Any]:
    """A MetricExporter's (preferred temporality, preferred aggregation); (None, None) if unknown."""
    return getattr(exporter, "_preferred_temporality", None), getattr(exporter, "_preferred_aggregation", None)


# -- the OTLP/HTTP exporters' own metrics (otel.sdk.exporter.*) -----------------


@dataclass
class ExportOutcome:
    """Filled in by the exporter inside :meth:`ExporterMetrics.export_operation`."""

    error: BaseException | None = None
    status_code: int | None = None


class ExporterMetrics:
    """``otel.sdk.exporter.{span,log}.{exported,inflight}`` and ``operation.duration``, as the SDK's exporters.

    A no-op unless enabled (``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED=true``,
    as in the SDK) and the semantic conventions' incubating package has the
    instruments.
    """

    _numbers: ClassVar[dict[str, itertools.count[int]]] = {}

    def __init__(self, signal: Literal["traces", "logs"], endpoint: str, meter_provider: Any, enabled: bool) -> None:
        self._on = False
        if not enabled:
            return
        try:
            types = _resolve("opentelemetry.semconv._incubating.attributes.otel_attributes.OtelComponentTypeValues")
            made = "opentelemetry.semconv._incubating.metrics.otel_metrics.create_otel_sdk_exporter_"
            kind = "span" if signal == "traces" else "log"
            component = (types.OTLP_HTTP_SPAN_EXPORTER if signal == "traces" else types.OTLP_HTTP_LOG_EXPORTER).value
            if meter_provider is None:
                from opentelemetry.metrics import get_meter_provider

                meter_provider = get_meter_provider()
            meter = meter_provider.get_meter("opentelemetry-sdk")
            self._inflight = _resolve(f"{made}{kind}_inflight")(meter)
            self._exported = _resolve(f"{made}{kind}_exported")(meter)
            self._duration = _resolve(f"{made}operation_duration")(meter)
        except (ImportError, AttributeError, TypeError) as error:  # named once by check()
            _log.debug("botwatch: no OTLP exporter metrics with this OpenTelemetry (%s)", error)
            return
        number = next(self._numbers.setdefault(component, itertools.count()))
        url = urlparse(endpoint)
        attributes: dict[str, Any] = {"otel.component.type": component, "otel.component.name": f"{component}/{number}"}
        if url.hostname:
            attributes["server.address"] = url.hostname
        port = url.port or {"https": 443, "http": 80}.get(url.scheme)
        if port is not None:
            attributes["server.port"] = port
        self._attributes = attributes
        self._on = True

    @contextmanager
    def export_operation(self, count: int) -> Iterator[ExportOutcome]:
        outcome = ExportOutcome()
        if not self._on:
            yield outcome
            return
        start = perf_counter()
        self._inflight.add(count, self._attributes)
        try:
            yield outcome
        finally:
            self._inflight.add(-count, self._attributes)
            attributes = self._attributes
            if outcome.error is not None:
                attributes = {**attributes, "error.type": type(outcome.error).__qualname__}
            self._exported.add(count, attributes)
            if outcome.status_code is not None:
                attributes = {**attributes, "http.response.status_code": outcome.status_code}
            self._duration.record(perf_counter() - start, attributes)


def _main() -> int:
    try:
        probe()
    except SDKIncompatible as error:
        print(error)
        return 1
    print(f"botwatch: OpenTelemetry {installed_versions()}: every name botwatch relies on is there ({len(NEEDS)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())


__all__ = [
    "GENAI_ERROR_METHOD",
    "GENAI_ERROR_MODULE",
    "LOGS_API_MODULES",
    "NEEDS",
    "ExporterMetrics",
    "Missing",
    "Need",
    "SDKIncompatible",
    "batch_queue",
    "check",
    "count_drops",
    "installed_versions",
    "logger_provider_unset",
    "meter_provider_unset",
    "metric_preferences",
    "probe",
]
