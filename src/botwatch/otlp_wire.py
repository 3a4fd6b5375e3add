"""OTLP trace and log requests written straight to protobuf wire bytes, masking personal data on the way.

The SDK's encoder builds a protobuf object for every span, log record,
attribute and value, then serialises the tree: about 30 µs of CPU per
record, the largest single cost of a busy gateway.  This module writes the
same bytes directly (a test checks them against the SDK's encoder, byte for
byte) and remembers the encoding of each ``(key, value)`` attribute pair it
met recently: a conversation's id, channel, intent and CRM action repeat in
every record, so most attributes cost a dictionary lookup.

Masking (``text``, e.g. :meth:`botwatch.pii.Redactor.text`) is applied to
every place of :data:`botwatch.masking.table.PLACES` (the table every export
path follows): span and event names, status messages, attribute keys and
values at any depth in every record, resource and scope (name, version,
attributes), log bodies, severity text and event names.  Each string is
masked before it is remembered, so once however often it repeats.  Schema
URLs and ids are not masked.

Field numbers are those of ``opentelemetry/proto/{trace,logs,common,
resource}/v1/*.proto``; fields are written in field-number order with
proto3's rules (zero scalars omitted, a set message always written, a
``oneof`` member always written), as the protobuf runtime does.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan

from botwatch.masking.remember import ByIdentity

_log = logging.getLogger("botwatch")

# Encodings remembered per encoder (the cache is emptied when it reaches this size), of
# strings up to CACHED_CHARS long: long message texts rarely repeat; ids and labels do.
CACHE_LIMIT = 4096
CACHED_CHARS = 256

_pack_q = struct.Struct("<Q").pack
_pack_i = struct.Struct("<I").pack
_pack_d = struct.Struct("<d").pack
_SMALL = [bytes((n,)) for n in range(128)]

# Span flags: the SDK always says whether the parent was remote (bit 0x100), and sets 0x200 when it was.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


def varint(n: int) -> bytes:
    if n < 0x80:
        if n >= 0:
            return _SMALL[n]
        n += 1 << 64  # int64 < 0: ten bytes of two's complement
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    n = len(payload)
    return tag + (_SMALL[n] if n < 0x80 else varint(n)) + payload


def _framed(payload: bytes) -> bytes:
    n = len(payload)
    return (_SMALL[n] if n < 0x80 else varint(n)) + payload


class WireEncoder:
    """Encodes span and log-record batches into ``Export*ServiceRequest`` bytes.

    One instance per exporter thread: its caches are not locked.
    """

    def __init__(self, text: Callable[[str], str] | None = None) -> None:
        self._text = text
        # class -> key -> value -> bytes: apart by class (1, 1.0 and True are equal keys), and
        # holding only strings, numbers and bytes, so the garbage collector never scans them.
        self._pairs: dict[type, dict[str, dict[Any, bytes]]] = {str: {}, int: {}, bool: {}, float: {}}
        self._remembered = 0
        self._strings: dict[str, bytes] = {}
        self._blocks: ByIdentity[bytes] = ByIdentity()

    # -- values ---------------------------------------------------------------
    def _str(self, value: str) -> bytes:
        """The UTF-8 bytes of ``value`` after masking, remembered."""
        out = self._strings.get(value)
        if out is None:
            out = (self._text(value) if self._text else value).encode("utf-8")
            if len(value) <= CACHED_CHARS:
                if len(self._strings) >= CACHE_LIMIT:
                    self._strings.clear()
                self._strings[value] = out
        return out

    def _any(self, value: Any) -> bytes:
        """An ``AnyValue`` message (without its frame)."""
        if value is None:
            return b""
        if isinstance(value, bool):
            return b"\x10\x01" if value else b"\x10\x00"
        if isinstance(value, str):
            return _field(b"\x0a", self._str(value))
        if isinstance(value, int):
            if not -(1 << 63) <= value < 1 << 63:
                raise ValueError(f"{value} does not fit in an int64")
            return b"\x18" + varint(value)
        if isinstance(value, float):
            return b"\x21" + _pack_d(value)
        if isinstance(value, bytes):
            return _field(b"\x3a", value)
        if isinstance(value, Sequence):
            return _field(b"\x2a", b"".join([b"\x0a" + _framed(self._any(v)) for v in value]))
        if isinstance(value, Mapping):
            # Keys inside a value are data (a body may be keyed by phone): masked, like every string.
            return _field(b"\x32", b"".join([b"\x0a" + self._new_pair(self._str(str(k)), v) for k, v in value.items()]))
        raise TypeError(f"cannot encode a {type(value).__name__} as an OTLP value")

    def _pair(self, key: str, value: Any) -> bytes:
        """A framed ``KeyValue`` of an attribute (key and value masked); scalar pairs are remembered."""
        if len(key) > CACHED_CHARS or not _cacheable(value):
            return self._new_pair(self._str(key), value)
        by_key = self._pairs[value.__class__]
        values = by_key.get(key)
        out = values.get(value) if values is not None else None
        if out is None:
            out = self._new_pair(self._str(key), value)  # may raise: nothing is remembered then
            if self._remembered >= CACHE_LIMIT:
                for kind in self._pairs.values():
                    kind.clear()
                self._remembered = 0
                values = None
            if values is None:
                values = by_key[key] = {}
            values[value] = out
            self._remembered += 1
        return out

    def _new_pair(self, key: bytes, value: Any) -> bytes:
        # An empty key is proto3's default: not written.
        return _framed((_field(b"\x0a", key) if key else b"") + b"\x12" + _framed(self._any(value)))

    def _attributes(self, tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
        if not attributes:
            return []
        out = []
        for key, value in attributes.items():
            try:
                out.append(tag + self._pair(key, value))
            except Exception as exc:  # noqa: BLE001 - one odd attribute must not lose the record (as the SDK does)
                _log.warning("botwatch: attribute %r not exported: %s", key, exc)
        return out

    # -- resources and scopes (few, the same objects batch after batch) --------
    def _block(self, obj: Any, build: Callable[[Any], bytes]) -> bytes:
        return self._blocks.get(obj, build)

    def _resource(self, resource: Any) -> bytes:
        return b"".join(self._attributes(b"\x0a", resource.attributes))

    def _scope(self, scope: Any) -> bytes:
        if scope is None:
            return b""
        parts = []
        if scope.name:
            parts.append(_field(b"\x0a", self._str(scope.name)))
        if scope.version:
            parts.append(_field(b"\x12", self._str(scope.version)))
        parts += self._attributes(b"\x1a", scope.attributes)
        return b"".join(parts)

    def _request(self, groups: list[tuple[Any, list[tuple[Any, list[bytes]]]]], inner_tag: bytes) -> bytes:
        """resource -> scope -> records, as ``resource_*`` (1) / ``scope_*`` (2) / records (2).

        The pieces are joined once, at the end: a request is often hundreds of
        kilobytes, and joining level by level would copy all of it once per
        level (each copy a fresh large allocation).
        """
        out: list[bytes] = []
        for resource, scopes in groups:
            head = _field(b"\x0a", self._block(resource, self._resource))
            tail = _field(b"\x1a", resource.schema_url.encode("utf-8")) if resource.schema_url else b""
            pieces: list[bytes] = []
            for scope, records in scopes:
                scoped = [_field(b"\x0a", self._block(scope, self._scope)) if scope is not None else b"\x0a\x00"]
                for record in records:
                    scoped.append(inner_tag + varint(len(record)))
                    scoped.append(record)
                if scope is not None and scope.schema_url:
                    scoped.append(_field(b"\x1a", scope.schema_url.encode("utf-8")))
                pieces.append(b"\x12" + varint(sum(map(len, scoped))))
                pieces += scoped
            out.append(b"\x0a" + varint(len(head) + sum(map(len, pieces)) + len(tail)))
            out.append(head)
            out += pieces
            out.append(tail)
        return b"".join(out)

    # -- spans ------------------------------------------------------------------
    def spans(self, batch: Sequence[ReadableSpan]) -> bytes:
        """An ``ExportTraceServiceRequest``."""
        return self._request(_grouped(batch, self._span), b"\x12")

    def _span(self, span: ReadableSpan) -> bytes:
        context = span.get_span_context()
        assert context is not None
        parts = [b"\x0a\x10" + context.trace_id.to_bytes(16, "big"), b"\x12\x08" + context.span_id.to_bytes(8, "big")]
        state = context.trace_state
        if state:
            parts.append(_field(b"\x1a", ",".join(f"{k}={v}" for k, v in state.items()).encode("utf-8")))
        parent = span.parent
        if parent:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        if span.name:
            parts.append(_field(b"\x2a", self._str(span.name)))
        parts.append(b"\x30" + _SMALL[span.kind.value + 1])
        if span.start_time:
            parts.append(b"\x39" + _pack_q(span.start_time))
        if span.end_time:
            parts.append(b"\x41" + _pack_q(span.end_time))
        parts += self._attributes(b"\x4a", span.attributes)
        if span.dropped_attributes:
            parts.append(b"\x50" + varint(span.dropped_attributes))
        for event in span.events:
            parts.append(_field(b"\x5a", self._event(event)))
        if span.dropped_events:
            parts.append(b"\x60" + varint(span.dropped_events))
        for link in span.links:
            parts.append(_field(b"\x6a", self._link(link)))
        if span.dropped_links:
            parts.append(b"\x70" + varint(span.dropped_links))
        status = span.status
        code = status.status_code.value
        message = status.description
        if message:
            parts.append(
                _field(b"\x7a", _field(b"\x12", self._str(message)) + (b"\x18" + _SMALL[code] if code else b""))
            )
        else:
            parts.append(b"\x7a\x02\x18" + _SMALL[code] if code else b"\x7a\x00")
        parts.append(b"\x85\x01" + _pack_i(_flags(parent)))
        return b"".join(parts)

    def _event(self, event: Any) -> bytes:
        parts = []
        if event.timestamp:
            parts.append(b"\x09" + _pack_q(event.timestamp))
        if event.name:
            parts.append(_field(b"\x12", self._str(event.name)))
        parts += self._attributes(b"\x1a", event.attributes)
        if event.dropped_attributes:
            parts.append(b"\x20" + varint(event.dropped_attributes))
        return b"".join(parts)

    def _link(self, link: Any) -> bytes:
        context = link.context
        parts = [b"\x0a\x10" + context.trace_id.to_bytes(16, "big"), b"\x12\x08" + context.span_id.to_bytes(8, "big")]
        parts += self._attributes(b"\x22", link.attributes)
        if link.dropped_attributes:
            parts.append(b"\x28" + varint(link.dropped_attributes))
        parts.append(b"\x35" + _pack_i(_flags(context)))
        return b"".join(parts)

    # -- log records --------------------------------------------------------------
    def logs(self, batch: Sequence[ReadableLogRecord]) -> bytes:
        """An ``ExportLogsServiceRequest``."""
        return self._request(_grouped(batch, self._log), b"\x12")

    def _log(self, readable: ReadableLogRecord) -> bytes:
        log = readable.log_record
        parts = []
        if log.timestamp:
            parts.append(b"\x09" + _pack_q(log.timestamp))
        severity = getattr(log.severity_number, "value", None)
        if severity:
            parts.append(b"\x10" + varint(severity))
        if log.severity_text:
            parts.append(_field(b"\x1a", self._str(log.severity_text)))
        parts.append(_field(b"\x2a", self._any(log.body)))
        parts += self._attributes(b"\x32", log.attributes)
        if readable.dropped_attributes:
            parts.append(b"\x38" + varint(readable.dropped_attributes))
        flags = int(log.trace_flags) if log.trace_flags is not None else 0
        if flags:
            parts.append(b"\x45" + _pack_i(flags))
        if log.trace_id:
            parts.append(b"\x4a\x10" + log.trace_id.to_bytes(16, "big"))
        if log.span_id:
            parts.append(b"\x52\x08" + log.span_id.to_bytes(8, "big"))
        if log.observed_timestamp:
            parts.append(b"\x59" + _pack_q(log.observed_timestamp))
        event_name = getattr(log, "event_name", None)
        if event_name:
            parts.append(_field(b"\x62", self._str(event_name)))
        return b"".join(parts)


def _cacheable(value: Any) -> bool:
    cls = value.__class__
    if cls is str:
        return len(value) <= CACHED_CHARS
    # Not 0.0: -0.0 equals it and would be answered with its bytes; NaN never equals itself.
    return cls is int or cls is bool or (cls is float and value == value and value != 0)


def _flags(parent: Any) -> int:
    return _HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE


def _grouped(batch: Iterable[Any], encode: Callable[[Any], bytes]) -> list[tuple[Any, list[tuple[Any, list[bytes]]]]]:
    """Records by resource, then by scope, in order of first appearance.

    Grouped as the SDK's encoder does, by dictionary (hash and equality:
    resources ``{"n": 1}`` and ``{"n": True}`` are equal but hash apart);
    each distinct object is hashed once per batch, not once per record.
    """
    resources: dict[Any, dict[Any, list[bytes]]] = {}
    by_id: dict[int, dict[Any, list[bytes]]] = {}
    scoped_by_id: dict[tuple[int, int], list[bytes]] = {}
    for record in batch:
        resource = record.resource
        scope = record.instrumentation_scope or None
        key = (id(resource), id(scope))
        records = scoped_by_id.get(key)
        if records is None:
            scopes = by_id.get(id(resource))
            if scopes is None:
                scopes = by_id[id(resource)] = resources.setdefault(resource, {})
            records = scoped_by_id[key] = scopes.setdefault(scope, [])
        records.append(encode(record))
    return [(resource, list(scopes.items())) for resource, scopes in resources.items()]
