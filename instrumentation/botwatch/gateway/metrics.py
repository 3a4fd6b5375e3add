"""The gateway's own metrics, through the SDK's meter provider (so the same OTLP or /metrics path)."""

from __future__ import annotations

from collections import Counter

from botwatch import semconv
from botwatch.telemetry import Telemetry

SCOPE = "botwatch.gateway"


class GatewayMetrics:
    def __init__(self, telemetry: Telemetry) -> None:
        meter = telemetry.meter_provider.get_meter(SCOPE)
        spec = semconv.GATEWAY_EVENTS
        self._events = meter.create_counter(spec.name, unit=spec.unit, description=spec.description)
        spec = semconv.HTTP_SERVER_REQUEST_DURATION
        self._duration = meter.create_histogram(
            spec.name, unit=spec.unit, description=spec.description, explicit_bucket_boundaries_advisory=spec.buckets
        )
        self._deferred = telemetry.deferred

    def events(self, tenant: str, outcomes: Counter[tuple[str, str]]) -> None:
        """``outcomes``: (outcome, reason code) -> number of events."""
        for (outcome, reason), count in outcomes.items():
            labels = {semconv.TENANT: tenant, semconv.GATEWAY_OUTCOME: outcome, semconv.GATEWAY_REASON: reason}
            self._deferred.count(self._events, count, labels)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = {
            semconv.HTTP_REQUEST_METHOD: method,
            semconv.HTTP_ROUTE: route,
            semconv.HTTP_RESPONSE_STATUS_CODE: status,
        }
        self._deferred.submit(self._duration.record, seconds, labels)
