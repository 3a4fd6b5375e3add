"""The export queues count what they drop, without per-span self-metrics.

opentelemetry-sdk can report its processors' health (``otel.sdk.processor.*``:
items processed, dropped with ``error.type=queue_full``, queue size and
capacity), but its switch (``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``) also
turns on per-span counters that cost more than the bot's own metrics.  We
attach only the processor metrics: one measurement per exported batch and one
per dropped item, nothing on the hot path of a healthy bot.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from opentelemetry.metrics import MeterProvider

_log = logging.getLogger("botwatch")


def count_drops(processor: Any, signal: Literal["traces", "logs"], meter_provider: MeterProvider) -> bool:
    """Attach the SDK's processor metrics to a Batch{Span,LogRecord}Processor; False if the SDK changed."""
    try:
        from opentelemetry.sdk._shared_internal._processor_metrics import create_processor_metrics
        from opentelemetry.semconv._incubating.attributes.otel_attributes import OtelComponentTypeValues

        batch = processor._batch_processor
        component = (
            OtelComponentTypeValues.BATCHING_SPAN_PROCESSOR
            if signal == "traces"
            else OtelComponentTypeValues.BATCHING_LOG_PROCESSOR
        )
        metrics = create_processor_metrics(
            signal, component, meter_provider, capacity=batch._max_queue_size, enabled=True
        )
        metrics.register_queue_size(lambda: len(batch._queue))
        batch._metrics = metrics
        return True
    except (ImportError, AttributeError, TypeError) as exc:  # an SDK version without these internals
        _log.warning("botwatch: cannot count dropped %s in this opentelemetry-sdk version (%s)", signal, exc)
        return False
