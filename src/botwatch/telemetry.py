"""``init()`` and ``shutdown()``: the providers, exporters and guards of one process."""

from __future__ import annotations

import atexit
import functools
import importlib.metadata
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation import set_span_in_context

from botwatch import ids, semconv
from botwatch.budgets import LabelBudgets
from botwatch.deferred import Deferred
from botwatch.destination import Destination, default_destination
from botwatch.extras import require
from botwatch.genai import GenAIConversation
from botwatch.genai import instrument_openai as trace_openai_calls
from botwatch.instruments import Instruments
from botwatch.pii import Redactor
from botwatch.redacting import masking_logs, masking_metrics, masking_spans
from botwatch.sdk_compat import batch_queue, check, count_drops, logger_provider_unset, meter_provider_unset
from botwatch.settings import Settings

_log = logging.getLogger("botwatch")
_SCOPE = "botwatch"


def _version() -> str:
    try:
        return importlib.metadata.version("botwatch")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


SCOPE_VERSION = _version()
_STARTED_MEMORY = 10_000


class Telemetry:
    """Everything one ``init()`` set up; the API objects read from it."""

    def __init__(self, settings: Settings, target: Destination | None) -> None:
        self.settings = settings
        self.redactor = Redactor(settings.secret)
        self._span_queue: tuple[Any, int] | None = None
        self._log_queue: tuple[Any, int] | None = None
        attrs: dict[str, Any] = {SERVICE_NAME: settings.service_name} if settings.service_name else {}
        if settings.tenant:
            attrs[semconv.TENANT] = settings.tenant
        self.resource = Resource.create(attrs)
        # Label values and series are budgeted per tenant (botwatch.budgets), the SDK's limit sized from them.
        tenant = str(self.resource.attributes.get(semconv.TENANT, ""))
        self.budgets = LabelBudgets(settings, tenant, self.redactor.contains_pii)

        readers: list[MetricReader] = []
        if target is not None:
            readers.append(PeriodicExportingMetricReader(masking_metrics(target.metrics(), self.redactor)))
        self.deferred = Deferred()
        self.prometheus_server: Any = None
        if settings.prometheus_port is not None:
            require("prometheus_client", extra="prometheus", feature="BOTWATCH_PROMETHEUS_PORT (a /metrics endpoint)")
            from botwatch.prometheus_endpoint import PrometheusBridge

            bridge = PrometheusBridge()
            bridge.before_scrape = self.deferred.drain
            bridge.mask = self.redactor.records.metrics
            readers.append(bridge)
            self.prometheus_server = bridge.serve(settings.prometheus_host, settings.prometheus_port)
        self.meter_provider = MeterProvider(
            resource=self.resource, metric_readers=readers, views=self.budgets.views(), shutdown_on_exit=False
        )

        # Our own exit hook shuts them down in order (pending measurements and log records first).
        self.tracer_provider = TracerProvider(
            resource=self.resource, id_generator=ids.DerivedIdGenerator(), shutdown_on_exit=False
        )
        self.logger_provider = LoggerProvider(resource=self.resource, shutdown_on_exit=False)
        if target is not None:
            spans = BatchSpanProcessor(masking_spans(target.spans(self.meter_provider), self.redactor))
            logs = BatchLogRecordProcessor(masking_logs(target.logs(self.meter_provider), self.redactor))
            check()  # one warning naming what this OpenTelemetry lacks; each feature below degrades alone
            count_drops(spans, "traces", self.meter_provider)
            count_drops(logs, "logs", self.meter_provider)
            self._span_queue, self._log_queue = batch_queue(spans), batch_queue(logs)
            self.tracer_provider.add_span_processor(GenAIConversation())
            self.tracer_provider.add_span_processor(spans)
            self.logger_provider.add_log_record_processor(logs)
        self.destination = target.description if target else "nowhere (botwatch.init() was not called)"
        version, schema = SCOPE_VERSION, semconv.SCHEMA_URL
        self.tracer = self.tracer_provider.get_tracer(_SCOPE, version, schema_url=schema)
        self.logger = self.logger_provider.get_logger(_SCOPE, version, schema_url=schema)
        meter = self.meter_provider.get_meter(_SCOPE, version, schema_url=schema)
        self.instruments = Instruments(meter, lambda: self.deferred.dropped)

        self.budgets.attach(self.instruments, meter)
        # The label guards of this process's own tenant (a conversation may name another one).
        # Channels and intents are matched case-insensitively ("WhatsApp" is "whatsapp");
        # model names, variants and error codes keep their case.
        own = self.budgets.guards()
        self.channels, self.intents, self.models, self.variants = own.channels, own.intents, own.models, own.variants
        self.providers, self.crm_systems, self.crm_actions, self.errors = (
            own.providers,
            own.crm_systems,
            own.crm_actions,
            own.errors,
        )

        # Two HMACs and a sampling decision per conversation entry, the same every time.
        self.root_context = functools.lru_cache(maxsize=_STARTED_MEMORY)(self._root_context)
        self._started: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False
        self._hooks: list[Any] = []
        # Metric label dicts reused per combination of values (botwatch.conversation builds them).
        self.label_sets: dict[tuple[Any, ...], Any] = {}

    # -- trace model -------------------------------------------------------
    def _root_context(self, conversation_id: str) -> tuple[int, int, Any]:
        """The derived trace id, root span id and a context whose parent is the root (cached per id)."""
        secret = self.settings.secret
        trace_id = ids.trace_id_for(secret, conversation_id)
        span_id = ids.root_span_id_for(secret, conversation_id)
        decision = self.tracer_provider.sampler.should_sample(None, trace_id, "conversation").decision
        sampled = decision.is_sampled()  # type: ignore[no-untyped-call]
        flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        parent = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags))
        return trace_id, span_id, set_span_in_context(parent)

    def trace_id(self, conversation_id: str) -> str:
        """The conversation's trace id, as hex (from the cached root context)."""
        return format(self.root_context(conversation_id)[0], "032x")

    def claim_root(self, conversation_id: str) -> bool:
        """True the first time this process starts ``conversation_id``."""
        with self._lock:
            if conversation_id in self._started:
                self._started.move_to_end(conversation_id)
                return False
            self._started[conversation_id] = None
            if len(self._started) > _STARTED_MEMORY:
                self._started.popitem(last=False)
            return True

    def backlog(self) -> float:
        """How full the fullest export queue is (0..1): spans, log records, deferred measurements.

        Log records wait in the deferred queue before they reach the log queue,
        so those count against the log queue too.  A service that feeds many
        events into the SDK (the webhook gateway) waits while this is high
        instead of filling the queues until they drop.
        """
        deferred = self.deferred.pending
        fullest = deferred / self.deferred.capacity
        if self._span_queue is not None:
            queue, capacity = self._span_queue
            fullest = max(fullest, len(queue) / capacity)
        if self._log_queue is not None:
            queue, capacity = self._log_queue
            fullest = max(fullest, (len(queue) + deferred) / capacity)
        return fullest

    # -- lifecycle -----------------------------------------------------------
    def add_hook(self, undo: Any) -> None:
        """Run ``undo()`` at :meth:`shutdown` (last added, first run): how log hooks remove themselves."""
        self._hooks.append(undo)

    def force_flush(self, timeout_millis: int = 10_000) -> None:
        """Export everything recorded so far: deferred measurements first, then spans, log records, metrics."""
        self.deferred.drain()
        self.tracer_provider.force_flush(timeout_millis)
        self.logger_provider.force_flush(timeout_millis)
        self.meter_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and close the providers and hooks of this set-up; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for undo in reversed(self._hooks):
            try:
                undo()
            except Exception:  # noqa: BLE001 - shutting down, report and go on
                _log.exception("botwatch: failed to remove a logging hook")
        self.deferred.shutdown()
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()
        if self.prometheus_server is not None:
            self.prometheus_server.shutdown()
            self.prometheus_server.server_close()


_state_lock = threading.Lock()
_current: Telemetry | None = None
_noop: Telemetry | None = None


def current() -> Telemetry:
    """The telemetry set up by ``init()``; a no-op one (with a warning) before that."""
    global _noop
    active = _current
    if active is not None:
        return active
    with _state_lock:
        if _noop is None:
            _log.warning("botwatch: init() was not called; conversations are traced nowhere")
            # env={}: nothing of init()'s configuration (a Prometheus port init() must still be able to bind).
            _noop = Telemetry(Settings.resolve(secret=b"botwatch-uninitialised", env={}), None)
        return _noop


def _set_globals(telemetry: Telemetry) -> None:
    """Make our providers the global ones, so auto-instrumentation nests under our spans."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(telemetry.tracer_provider)
    if meter_provider_unset(metrics.get_meter_provider()):
        metrics.set_meter_provider(telemetry.meter_provider)
    if logger_provider_unset(_logs.get_logger_provider()):
        _logs.set_logger_provider(telemetry.logger_provider)


def init(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    journal: str | Path | None = None,
    destination: Destination | None = None,
    secret: str | bytes | None = None,
    capture_content: bool | None = None,
    channels: Iterable[str] | None = None,
    intents: Iterable[str] | None = None,
    models: Iterable[str] | None = None,
    variants: Iterable[str] | None = None,
    prometheus_port: int | None = None,
    capture_loguru: bool = True,
    capture_logging: bool = False,
    instrument_openai: bool = False,
    tenant: str | None = None,
    max_tenants: int | None = None,
    label_budget: int | None = None,
    label_budgets: Mapping[str, int] | None = None,
) -> Telemetry:
    """Set up botwatch for this process; calling it again replaces the previous set-up after flushing it.

    Where telemetry goes: ``destination`` if given (e.g.
    :class:`botwatch.testing.InMemoryDestination` in your tests), else a
    collector over OTLP at ``endpoint`` (a base URL; default
    ``OTEL_EXPORTER_OTLP_ENDPOINT``), else the embedded journal at ``journal``
    (default ``BOTWATCH_JOURNAL``, then ``~/.local/share/botwatch/journal.sqlite``).

    Args:
        service_name: ``service.name`` of this bot (default ``OTEL_SERVICE_NAME``).
        endpoint: OTLP base URL; the per-signal paths are appended.
        journal: the journal file when there is no endpoint.
        destination: builds the exporters instead of OTLP or the journal (see :class:`botwatch.Destination`).
        secret: per-deployment key for trace ids and client hashes (default ``BOTWATCH_SECRET``).
        capture_content: ``False``: no message text at all (default ``BOTWATCH_CAPTURE_CONTENT``, true).
        channels: more channels allowed as metric labels (``BOTWATCH_CHANNELS``).
        intents: allow-list of intents for metric labels (``BOTWATCH_INTENTS``).
        models: allow-list of model names for metric labels (``BOTWATCH_MODELS``).
        variants: allow-list of scenario variants for metric labels (``BOTWATCH_VARIANTS``).
        prometheus_port: serve ``/metrics`` on this port (``BOTWATCH_PROMETHEUS_PORT``; needs ``[prometheus]``).
        capture_loguru: turn loguru records into log records (when loguru is installed).
        capture_logging: turn standard ``logging`` records into log records.
        instrument_openai: trace OpenAI client calls (needs ``[openai]``).
        tenant: the business this process records for (``BOTWATCH_TENANT``).
        max_tenants: tenants one process records for before they share ``other`` (``BOTWATCH_MAX_TENANTS``).
        label_budget: label sets per metric and tenant before ``other`` (``BOTWATCH_LABEL_BUDGET``).
        label_budgets: per-tenant overrides of ``label_budget``.

    Raises:
        botwatch.env.ConfigError: a ``BOTWATCH_*`` variable has a value botwatch cannot use.
        ValueError: an argument is out of range, or both ``destination`` and ``endpoint`` are given.
    """
    global _current
    if destination is not None and endpoint:
        raise ValueError("init(): give destination= or endpoint=, not both")
    settings = Settings.resolve(
        service_name=service_name,
        secret=secret,
        endpoint=endpoint,
        journal=journal,
        capture_content=capture_content,
        channels=channels,
        intents=intents,
        models=models,
        variants=variants,
        prometheus_port=prometheus_port,
        capture_loguru=capture_loguru,
        capture_logging=capture_logging,
        instrument_openai=instrument_openai,
        tenant=tenant,
        max_tenants=max_tenants,
        label_budget=label_budget,
        label_budgets=label_budgets,
    )
    with _state_lock:
        previous, _current = _current, None
    if previous is not None:
        previous.shutdown()
    telemetry = Telemetry(settings, destination if destination is not None else default_destination(settings))
    from botwatch.logs import install_log_hooks

    install_log_hooks(telemetry)
    if settings.instrument_openai:
        trace_openai_calls(telemetry)
    _set_globals(telemetry)
    with _state_lock:
        _current = telemetry
    return telemetry


def shutdown() -> None:
    """Flush and close every provider; safe to call twice, also runs at exit."""
    global _current
    with _state_lock:
        telemetry, _current = _current, None
    if telemetry is not None:
        telemetry.shutdown()


atexit.register(shutdown)
