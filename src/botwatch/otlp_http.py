"""OTLP/HTTP exporters for spans and log records, composed of three parts botwatch owns.

* **the encoder**: :class:`botwatch.otlp_wire.WireEncoder`, which masks
  personal data while it encodes once :meth:`mask_with` armed it;
* **the transport**: :class:`OTLPHTTPSender`, one ``POST`` per batch with the
  OTLP/HTTP retry rules (below), on a ``requests`` session;
* **the exporters**: :class:`WireSpanExporter` and :class:`WireLogExporter`,
  the SDK's public ``SpanExporter`` / ``LogRecordExporter`` interfaces
  composing the two, and counting themselves as the SDK's exporters do
  (``otel.sdk.exporter.*`` when ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED=true``,
  :class:`botwatch.sdk_compat.ExporterMetrics`).

No SDK exporter class is subclassed and no private attribute is read, so an
SDK release cannot silently switch botwatch to a slower path.

Configuration, as the SDK's ``OTLPSpanExporter``/``OTLPLogExporter`` read it
(an argument first, then the per-signal variable, then the general one):

=============  ==================================================  ===========================
setting        variables (``X`` = ``TRACES`` or ``LOGS``)            default
=============  ==================================================  ===========================
endpoint       ``OTEL_EXPORTER_OTLP_X_ENDPOINT`` (used as is),       ``http://localhost:4318``
               ``OTEL_EXPORTER_OTLP_ENDPOINT`` (+ ``/v1/traces``)    + the signal's path
headers        ``OTEL_EXPORTER_OTLP_X_HEADERS``, ``..._HEADERS``     content type, user agent
timeout        ``OTEL_EXPORTER_OTLP_X_TIMEOUT``, ``..._TIMEOUT``     10 s for all attempts
compression    ``OTEL_EXPORTER_OTLP_X_COMPRESSION``, ``...``         none (gzip, deflate)
CA file        ``OTEL_EXPORTER_OTLP_X_CERTIFICATE``, ``...``         the system's
client cert    ``OTEL_EXPORTER_OTLP_X_CLIENT_CERTIFICATE``/``_KEY``  none
session        ``OTEL_PYTHON_EXPORTER_OTLP_HTTP_[X_]CREDENTIAL_PROVIDER``
               (an ``opentelemetry_otlp_credential_provider`` entry point returning a ``requests.Session``)
=============  ==================================================  ===========================

Retries: a response 429, 502, 503 or 504, or a connection error, is retried
up to 6 attempts with exponential backoff (1, 2, 4... s, ±20 % jitter, or the
server's ``Retry-After``) while the timeout lasts; a reset pooled connection
is retried once at once; shutdown stops the waiting.  2xx and 3xx are
success (redirects are not followed); anything else fails the batch at once.
A batch whose encoding exceeds ``max_request_size`` (64 MiB; 0 turns the
check off) is dropped and counted as ``RequestPayloadTooLargeError``.
"""

from __future__ import annotations

import email.utils
import gzip
import importlib.metadata
import logging
import math
import os
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import requests
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from botwatch.masking.detect import mask_secrets
from botwatch.otlp_wire import WireEncoder
from botwatch.sdk_compat import ExporterMetrics

_log = logging.getLogger("botwatch")

Signal = Literal["traces", "logs"]
DEFAULT_ENDPOINT = "http://localhost:4318"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_REQUEST_SIZE = 64 * 1024 * 1024
MAX_ATTEMPTS = 6
JITTER = 0.2
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
COMPRESSIONS = ("none", "gzip", "deflate")
_PATHS = {"traces": "v1/traces", "logs": "v1/logs"}
_CREDENTIALS_GROUP = "opentelemetry_otlp_credential_provider"


USER_AGENT = "botwatch (OTLP/HTTP exporter)"


class RequestPayloadTooLargeError(Exception):
    """A batch over the exporter's ``max_request_size`` (the name is the SDK's: it is the metric's error.type)."""


def _env(signal: Signal, setting: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_<SETTING>``, else ``OTEL_EXPORTER_OTLP_<SETTING>``; None when neither is set."""
    specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{setting}", "").strip()
    return specific or os.environ.get(f"OTEL_EXPORTER_OTLP_{setting}", "").strip() or None


@dataclass(frozen=True)
class HTTPSettings:
    """Where and how one signal is sent: arguments first, then the standard variables."""

    endpoint: str
    headers: Mapping[str, str]
    timeout: float
    compression: str
    verify: bool | str
    cert: str | tuple[str, str] | None

    @classmethod
    def resolve(
        cls,
        signal: Signal,
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        compression: Any = None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
    ) -> HTTPSettings:
        if not endpoint:
            specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
            base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
            endpoint = specific or f"{base.removesuffix('/')}/{_PATHS[signal]}"
        merged = {"content-type": "application/x-protobuf", "user-agent": USER_AGENT}
        merged.update({k.lower(): v for k, v in parse_env_headers(_env(signal, "HEADERS") or "", liberal=True).items()})
        merged.update({k.lower(): v for k, v in (headers or {}).items()})
        chosen = _compression(compression if compression is not None else _env(signal, "COMPRESSION"))
        if chosen != "none":
            merged.setdefault("content-encoding", chosen)
        client_certificate = client_certificate_file or _env(signal, "CLIENT_CERTIFICATE")
        client_key = client_key_file or _env(signal, "CLIENT_KEY")
        return cls(
            endpoint=endpoint,
            headers=merged,
            timeout=float(timeout) if timeout is not None else _timeout(_env(signal, "TIMEOUT")),
            compression=chosen,
            verify=certificate_file or _env(signal, "CERTIFICATE") or True,
            cert=(client_certificate, client_key) if client_certificate and client_key else client_certificate,
        )


def _compression(value: Any) -> str:
    """``none``/``gzip``/``deflate`` from a string or the SDK's ``Compression`` enum; ``none`` with a warning else."""
    text = str(getattr(value, "value", value) or "none").strip().lower()
    text = {"nocompression": "none"}.get(text, text)
    if text not in COMPRESSIONS:
        _log.warning("botwatch: OTLP compression %r is not one of %s; sending uncompressed", value, COMPRESSIONS)
        return "none"
    return text


def _timeout(value: str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds <= 0:
        _log.warning("botwatch: OTLP timeout %r is not a positive number of seconds; using %s", value, DEFAULT_TIMEOUT)
        return DEFAULT_TIMEOUT
    return seconds


def _credential_session(signal: Signal) -> requests.Session | None:
    """The session an ``opentelemetry_otlp_credential_provider`` entry point gives, when a variable names one."""
    name = os.environ.get("OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER") or os.environ.get(
        f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{signal.upper()}_CREDENTIAL_PROVIDER"
    )
    if not name:
        return None
    found = importlib.metadata.entry_points(group=_CREDENTIALS_GROUP, name=name)
    if not found:
        raise RuntimeError(f"no entry point {name!r} in group {_CREDENTIALS_GROUP!r}")
    session = next(iter(found)).load()()
    if not isinstance(session, requests.Session):
        raise RuntimeError(f"entry point {name!r} returned {type(session).__name__}, not a requests.Session")
    return session


@dataclass(frozen=True)
class Sent:
    """What one :meth:`OTLPHTTPSender.send` came to."""

    ok: bool
    status_code: int | None = None
    error: BaseException | None = None


class HTTPStatusError(Exception):
    """The receiver answered a status that is neither success nor worth retrying (or retries ran out)."""


_CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout)


def _said(error: BaseException | None) -> str:
    """``error`` for the log: requests names a bad header's value (an Authorization token), so not that one."""
    if isinstance(error, requests.exceptions.InvalidHeader):
        return "a header name or value has leading whitespace or a line break (headers= or OTEL_EXPORTER_OTLP_*HEADERS)"
    return mask_secrets(str(error))


def _retry_after(response: requests.Response) -> float | None:
    """The ``Retry-After`` header (seconds or an HTTP date) as seconds from now; None when absent or odd."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(when.timestamp() - time.time(), 0.0)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


class OTLPHTTPSender:
    """The transport: POSTs encoded batches to one OTLP/HTTP endpoint with the retry rules of the module doc."""

    def __init__(self, settings: HTTPSettings, session: requests.Session | None = None, kind: str = "spans") -> None:
        self.settings = settings
        self.kind = kind
        self._session = session if session is not None else requests.Session()
        self._session.verify = settings.verify
        if settings.cert is not None:
            self._session.cert = settings.cert
        self._headers = dict(settings.headers)
        self._stop = threading.Event()

    def _compress(self, data: bytes) -> bytes:
        if self.settings.compression == "gzip":
            return gzip.compress(data, mtime=0)
        if self.settings.compression == "deflate":
            return zlib.compress(data)
        return data

    def _post(self, body: bytes, deadline: float) -> tuple[requests.Response | None, BaseException | None]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, requests.Timeout(f"no time left of the {self.settings.timeout} s export timeout")
        try:
            response = self._session.post(
                self.settings.endpoint,
                data=body,
                headers=self._headers,
                timeout=remaining,
                allow_redirects=False,
            )
        except Exception as error:  # noqa: BLE001 - every failure of the request is this batch's result
            return None, error
        return response, None

    def send(self, data: bytes) -> Sent:
        """Send one encoded batch; retries what is worth retrying while the timeout lasts."""
        body = self._compress(data)
        deadline = time.monotonic() + self.settings.timeout
        status: int | None = None
        error: BaseException | None = None
        for attempt in range(MAX_ATTEMPTS):
            backoff = 2**attempt * random.uniform(1 - JITTER, 1 + JITTER)
            response, error = self._post(body, deadline)
            if response is None and isinstance(error, requests.ConnectionError):
                response, error = self._post(body, deadline)  # a pooled connection the server closed: once more now
            if response is not None:
                status = response.status_code
                if 200 <= status < 400:
                    return Sent(True, status)
                error = HTTPStatusError(f"HTTP {status} {response.reason or ''}".strip())
                retryable = status in RETRYABLE_STATUS
                waited = _retry_after(response) if retryable else None
                backoff = backoff if waited is None else waited
            else:
                status, retryable = None, isinstance(error, _CONNECTION_ERRORS)
            if not retryable:
                _log.error("botwatch: exporting a %s batch failed: %s", self.kind, _said(error))
                return Sent(False, status, error)
            if attempt + 1 == MAX_ATTEMPTS or backoff > deadline - time.monotonic() or self._stop.is_set():
                _log.error(
                    "botwatch: exporting a %s batch failed after %d attempts: %s", self.kind, attempt + 1, _said(error)
                )
                return Sent(False, status, error)
            _log.warning("botwatch: %s exporting a %s batch; retrying in %.2f s", _said(error), self.kind, backoff)
            if self._stop.wait(backoff):
                break
        return Sent(False, status, error)

    def shutdown(self) -> None:
        """Stop waiting between retries and close the connections."""
        self._stop.set()
        self._session.close()


class _Composed:
    """Encoder + sender + exporter metrics; what both exporters share."""

    _kind: Signal

    def __init__(
        self,
        endpoint: str | None = None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        compression: Any = None,
        session: requests.Session | None = None,
        *,
        max_request_size: int | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        settings = HTTPSettings.resolve(
            self._kind,
            endpoint,
            headers,
            timeout,
            compression,
            certificate_file,
            client_key_file,
            client_certificate_file,
        )
        self.sender = OTLPHTTPSender(settings, session or _credential_session(self._kind), kind=self._noun)
        self.encoder = WireEncoder()
        self.max_request_size = DEFAULT_MAX_REQUEST_SIZE if max_request_size is None else max_request_size
        enabled = os.environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "").strip().lower() == "true"
        self._metrics = ExporterMetrics(self._kind, settings.endpoint, meter_provider, enabled)
        self._closed = False

    @property
    def _noun(self) -> str:
        return "span" if self._kind == "traces" else "log record"

    @property
    def endpoint(self) -> str:
        return self.sender.settings.endpoint

    def mask_with(self, text: Callable[[str], str]) -> bool:
        """Mask every string with ``text`` while encoding (``botwatch.redacting`` arms it); always True."""
        self.encoder = WireEncoder(text)
        return True

    def _send(self, encode: Callable[[WireEncoder], bytes], count: int) -> bool:
        if self._closed:
            _log.warning("botwatch: the %s exporter is shut down, batch ignored", self._noun)
            return False
        with self._metrics.export_operation(count) as outcome:
            try:
                data = encode(self.encoder)
            except Exception as error:  # noqa: BLE001 - a bad batch fails alone, the exporter goes on
                _log.error("botwatch: encoding a %s batch failed: %s", self._noun, error)
                outcome.error = error
                return False
            if 0 < self.max_request_size < len(data):
                size, limit = len(data), self.max_request_size
                _log.warning(
                    "botwatch: %s batch of %d bytes over max_request_size %d, dropped", self._noun, size, limit
                )
                outcome.error = RequestPayloadTooLargeError(f"{size} bytes > {limit}")
                return False
            sent = self.sender.send(data)
            if not sent.ok:
                outcome.error, outcome.status_code = sent.error, sent.status_code
                return False
        return True

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.sender.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here."""
        return True


class WireSpanExporter(_Composed, SpanExporter):
    """Spans over OTLP/HTTP, encoded by :class:`WireEncoder` (masking once :meth:`mask_with` armed it)."""

    _kind: Signal = "traces"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._send(lambda encoder: encoder.spans(spans), len(spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE


class WireLogExporter(_Composed, LogRecordExporter):
    """Log records over OTLP/HTTP, encoded by :class:`WireEncoder` (masking once :meth:`mask_with` armed it)."""

    _kind: Signal = "logs"

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = self._send(lambda encoder: encoder.logs(batch), len(batch))
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE
