"""OTLP/HTTP exporters that encode with :mod:`botwatch.otlp_wire` and mask personal data while encoding.

They are the SDK's ``OTLPSpanExporter`` / ``OTLPLogExporter`` (same
endpoint, headers, compression, retries, timeouts and exporter metrics from
the standard ``OTEL_EXPORTER_OTLP_*`` variables); only the encoding is
ours.  Sending reuses the SDK exporter's HTTP client, which is not a
public API: when an SDK release changes it, :meth:`mask_with` answers False
and botwatch wraps the exporter in the generic masking exporters instead
(correct, about 4x slower to encode), logging a warning once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from botwatch.otlp_wire import WireEncoder

_log = logging.getLogger("botwatch")
_PRIVATE = ("_shutdown", "_metrics", "_client", "_max_request_size")
_warned = False


def _usable(exporter: Any) -> bool:
    """Whether this SDK exporter has the HTTP client and export result botwatch was written against."""
    global _warned
    try:
        from opentelemetry.exporter.otlp.common.http import _ExportResult

        fields = set(getattr(_ExportResult, "__dataclass_fields__", ()))
    except ImportError:
        fields = set()
    ok = (
        {"success", "status_code", "error"} <= fields
        and all(hasattr(exporter, name) for name in _PRIVATE)
        and callable(getattr(exporter._client, "export", None))
        and callable(getattr(exporter._metrics, "export_operation", None))
    )
    if not ok and not _warned:
        _warned = True
        _log.warning("botwatch: this opentelemetry-exporter-otlp-proto-http is new to botwatch; using its own encoder")
    return ok


try:  # the SDK's own: its class name is the exporter metrics' error.type
    from opentelemetry.exporter.otlp.proto.http._common import RequestPayloadTooLargeError
except ImportError:  # pragma: no cover - older SDKs

    class RequestPayloadTooLargeError(Exception):  # type: ignore[no-redef]
        """A batch over the exporter's ``max_request_size``."""


def _send(exporter: Any, encode: Callable[[], bytes], count: int, kind: str) -> bool:
    """What the SDK exporter's ``export`` does, with our bytes; True when the collector took them."""
    if exporter._shutdown:
        _log.warning("botwatch: the %s exporter is shut down, batch ignored", kind)
        return False
    with exporter._metrics.export_operation(count) as result:
        try:
            data = encode()
        except Exception as error:  # noqa: BLE001 - a bad batch fails alone, the exporter goes on
            _log.error("botwatch: encoding a %s batch failed: %s", kind, error)
            result.error = error
            return False
        limit = exporter._max_request_size
        if 0 < limit < len(data):
            _log.warning("botwatch: %s batch of %d bytes over max_request_size %d, dropped", kind, len(data), limit)
            result.error = RequestPayloadTooLargeError(f"{len(data)} bytes > {limit}")
            return False
        sent = exporter._client.export(data)
        if not sent.success:
            result.error = sent.error
            result.error_attrs = (
                {"http.response.status_code": sent.status_code} if sent.status_code is not None else None
            )
            return False
    return True


class _Wire:
    """The part both exporters share: arming, and ``export`` with our encoder once armed."""

    _wire: WireEncoder | None = None
    _kind: str  # "spans" or "logs": also the encoder's method
    _results: Any

    def mask_with(self, text: Callable[[str], str]) -> bool:
        """Mask every string with ``text`` while encoding; False when this SDK cannot (see module doc)."""
        if not _usable(self):
            return False
        self._wire = WireEncoder(text)
        return True

    def export(self, batch: Sequence[Any]) -> Any:
        wire = self._wire
        if wire is None:
            return super().export(batch)  # type: ignore[misc]
        ok = _send(self, lambda: getattr(wire, self._kind)(batch), len(batch), self._kind)
        return self._results.SUCCESS if ok else self._results.FAILURE


class WireSpanExporter(_Wire, OTLPSpanExporter):
    """``OTLPSpanExporter`` encoding with :class:`WireEncoder` once :meth:`mask_with` armed it."""

    _kind = "spans"
    _results = SpanExportResult


class WireLogExporter(_Wire, OTLPLogExporter):
    """``OTLPLogExporter`` encoding with :class:`WireEncoder` once :meth:`mask_with` armed it."""

    _kind = "logs"
    _results = LogRecordExportResult
