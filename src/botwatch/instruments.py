"""The metric instruments of ``semconv.METRICS``, created once per meter provider."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation

from botwatch import semconv
from botwatch.semconv import Metric


def _histogram(meter: Meter, metric: Metric) -> Histogram:
    return meter.create_histogram(
        metric.name,
        unit=metric.unit,
        description=metric.description,
        explicit_bucket_boundaries_advisory=metric.buckets,
    )


def _counter(meter: Meter, metric: Metric) -> Counter:
    return meter.create_counter(metric.name, unit=metric.unit, description=metric.description)


class Instruments:
    def __init__(self, meter: Meter, dropped: Callable[[], int]) -> None:
        self.turn_duration = _histogram(meter, semconv.TURN_DURATION)
        self.intent_confidence = _histogram(meter, semconv.INTENT_CONFIDENCE_METRIC)
        self.crm_actions = _counter(meter, semconv.CRM_ACTIONS)
        self.conversations = _counter(meter, semconv.CONVERSATIONS)
        self.funnel_events = _counter(meter, semconv.FUNNEL_EVENTS)
        self.llm_cost = _counter(meter, semconv.LLM_COST_METRIC)
        self.reviews = _counter(meter, semconv.REVIEWS)
        self.llm_duration = _histogram(meter, semconv.GEN_AI_OPERATION_DURATION)
        self.token_usage = _histogram(meter, semconv.GEN_AI_TOKEN_USAGE)

        def observe_dropped(_options: CallbackOptions) -> Iterable[Observation]:
            return (Observation(dropped()),)

        spec = semconv.TELEMETRY_DROPPED
        meter.create_observable_counter(spec.name, [observe_dropped], unit=spec.unit, description=spec.description)
