"""The gateway's own metrics, through the SDK's meter provider (so the same OTLP or /metrics path)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botwatch import semconv
from botwatch.telemetry import SCOPE_VERSION, Telemetry

SCOPE = "botwatch.gateway"


class GatewayMetrics:
    def __init__(self, telemetry: Telemetry) -> None:
        meter = telemetry.meter_provider.get_meter(SCOPE, SCOPE_VERSION, schema_url=semconv.SCHEMA_URL)
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

    def asgi_request(self, scope: Any, route: str | None, status: int, seconds: float) -> None:
        """One HTTP request of an ASGI ``scope`` (method, scheme and HTTP version come from it)."""
        self.request(
            scope["method"],
            route,
            status,
            seconds,
            scheme=scope.get("scheme", "http"),
            protocol_version=scope.get("http_version"),
        )

    def request(
        self,
        method: str,
        route: str | None,
        status: int,
        seconds: float,
        *,
        scheme: str = "http",
        protocol_version: str | None = None,
    ) -> None:
        """One HTTP request; ``route`` is None when no route matched (then ``http.route`` is absent)."""
        self._deferred.submit(
            self._duration.record, seconds, request_labels(method, route, status, scheme, protocol_version)
        )


def request_labels(
    method: str, route: str | None, status: int, scheme: str, protocol_version: str | None
) -> dict[str, Any]:
    """The attributes of ``http.server.request.duration``, as the HTTP semantic conventions define them."""
    labels: dict[str, Any] = {
        semconv.HTTP_REQUEST_METHOD: method if method in semconv.HTTP_METHODS else semconv.HTTP_METHOD_OTHER,
        semconv.URL_SCHEME: scheme if scheme in ("http", "https") else "http",
        semconv.HTTP_RESPONSE_STATUS_CODE: status,
    }
    if route is not None:
        labels[semconv.HTTP_ROUTE] = route
    if protocol_version in ("1.0", "1.1", "2", "3"):
        labels[semconv.NETWORK_PROTOCOL_VERSION] = protocol_version
    if status >= 500:
        labels[semconv.ERROR_TYPE] = str(status)  # a server error is the request's error
    return labels
