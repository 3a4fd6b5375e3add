"""What is masked, for every export path: the table, and the masking of SDK records by it.

Every path masks exactly the places in :data:`PLACES`: the OTLP/HTTP wire
encoder (:mod:`botwatch.otlp_wire`) while it encodes, and :class:`RecordMasker`
for everything else (the journal, OTLP/gRPC, the SDK's own encoder when the
wire encoder cannot be used, metric exporters and the Prometheus endpoint).
``attributes`` means keys and values, at any depth of lists and maps (keys
inside maps too).  A test encodes the same records both ways and compares.

Not masked: trace and span ids, trace state, schema URLs, timestamps and
numbers, metric names, descriptions and units (names chosen by code).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import Metric, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, Status

from botwatch.masking.detect import suspect
from botwatch.masking.remember import ByIdentity

PLACES: tuple[tuple[str, str], ...] = (
    ("resource", "attributes"),
    ("scope", "name"),
    ("scope", "version"),
    ("scope", "attributes"),
    ("span", "name"),
    ("span", "attributes"),
    ("span", "status message"),
    ("span event", "name"),
    ("span event", "attributes"),
    ("span link", "attributes"),
    ("log record", "body"),
    ("log record", "attributes"),
    ("log record", "severity text"),
    ("log record", "event name"),
    ("metric data point", "attributes"),
    ("metric exemplar", "filtered attributes"),
)

_SCALARS = frozenset({int, float, bool, type(None), bytes})


def any_suspect(values: Iterable[object]) -> bool:
    """Whether any of ``values`` (strings, lists, maps) may hold personal data: one pass over their strings.

    The strings are joined with NUL, which the detectors read as neither a
    digit nor a separator, so a join can only add false alarms.
    """
    texts: list[str] = []
    for value in values:
        kind = type(value)
        if kind is str:
            texts.append(value)  # type: ignore[arg-type]
        elif kind not in _SCALARS and value_suspect(value):
            return True
    return suspect("\x00".join(texts))


def value_suspect(value: object) -> bool:
    """Whether ``value`` (a string, or a list or map of them, keys included) may hold personal data."""
    if isinstance(value, str):
        return suspect(value)
    if isinstance(value, Mapping):
        return any(value_suspect(k) or value_suspect(v) for k, v in value.items())
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return any(value_suspect(v) for v in value)
    return False


# Attribute keys are mostly names chosen by code, the same in every record: each is checked once.
_CLEAN_KEYS: set[str] = set()
_CLEAN_KEYS_LIMIT = 10_000


def _items(attributes: Mapping[str, Any]) -> Iterator[object]:
    """Values, and the keys not known to be clean, of ``attributes``."""
    for key, value in attributes.items():
        if key not in _CLEAN_KEYS:
            if type(key) is str and not suspect(key) and len(_CLEAN_KEYS) < _CLEAN_KEYS_LIMIT:
                _CLEAN_KEYS.add(key)
            else:
                yield key
        yield value


class RecordMasker:
    """Masks spans, log records, metrics, resources and scopes with ``text`` (e.g. ``Redactor.text``).

    A record with nothing suspect passes as the same object.  Resources and
    scopes (a few objects, met in every batch) are masked once and remembered.
    """

    def __init__(self, text: Callable[[str], str]) -> None:
        self.text = text
        self._blocks: ByIdentity[Any] = ByIdentity()

    # -- values and attributes ------------------------------------------------
    def value(self, value: Any) -> Any:
        text = self.text
        if isinstance(value, str):
            return text(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        if isinstance(value, Mapping):
            return {text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            return [self.value(v) for v in value]
        return value

    def attributes(self, attributes: Any) -> Any:
        """Keys and values masked; the same object when none is suspect."""
        if not attributes or not any_suspect(_items(attributes)):
            return attributes
        text = self.text
        masked = {text(key): self.value(value) for key, value in attributes.items()}
        return attributes if masked == attributes else masked

    # -- resources and scopes ------------------------------------------------
    def resource(self, resource: Resource) -> Resource:
        return self._blocks.get(resource, self._resource)  # type: ignore[no-any-return]

    def _resource(self, resource: Resource) -> Resource:
        original = resource.attributes
        attributes = self.attributes(original)
        return resource if attributes is original else Resource(attributes, resource.schema_url)

    def scope(self, scope: InstrumentationScope | None) -> InstrumentationScope | None:
        return None if scope is None else self._blocks.get(scope, self._scope)

    def _scope(self, scope: InstrumentationScope) -> InstrumentationScope:
        if not any_suspect([scope.name, scope.version, *_items(scope.attributes or {})]):
            return scope
        text = self.text
        name, version = text(scope.name), text(scope.version) if scope.version else scope.version
        original = scope.attributes
        attributes = self.attributes(original)
        if name == scope.name and version == scope.version and attributes is original:
            return scope
        return InstrumentationScope(name, version, scope.schema_url, attributes)

    # -- spans ---------------------------------------------------------------
    def span(self, span: ReadableSpan) -> ReadableSpan:
        resource, scope = self.resource(span.resource), self.scope(span.instrumentation_scope)
        if resource is span.resource and scope is span.instrumentation_scope and not any_suspect(_span_strings(span)):
            return span
        status = span.status
        if status.description:
            status = Status(status.status_code, self.text(status.description))
        original = span.attributes  # a new read-only view at every access: compared by identity below
        name, attributes = self.text(span.name), self.attributes(original)
        events = [self._event(event) for event in span.events]
        links = [self._link(link) for link in span.links]
        if (
            resource is span.resource
            and scope is span.instrumentation_scope
            and name == span.name
            and attributes is original
            and status.description == span.status.description
            and all(e is o for e, o in zip(events, span.events, strict=True))
            and all(k is o for k, o in zip(links, span.links, strict=True))
        ):
            return span  # suspect, but nothing to mask: it keeps its dropped counts
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=resource,
            attributes=attributes,
            events=events,
            links=links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=scope,
        )

    def _event(self, event: Event) -> Event:
        """The same event when nothing in it is suspect (it keeps its dropped-attribute count)."""
        original = event.attributes
        name, attributes = self.text(event.name), self.attributes(original)
        if name == event.name and attributes is original:
            return event
        return Event(name, attributes, event.timestamp)

    def _link(self, link: Link) -> Link:
        original = link.attributes
        attributes = self.attributes(original)
        return link if attributes is original else Link(link.context, attributes)

    # -- log records -----------------------------------------------------------
    def log(self, record: ReadableLogRecord) -> ReadableLogRecord:
        """The record with its strings masked (the log record itself is changed in place)."""
        log = record.log_record
        event_name = getattr(log, "event_name", None)  # SDK >= 1.35
        attributes = log.attributes or {}
        if any_suspect([log.body, log.severity_text, event_name, *_items(attributes)]):
            text = self.text
            log.body = self.value(log.body)
            if log.severity_text:
                log.severity_text = text(log.severity_text)
            if event_name:
                log.event_name = text(event_name)
            if any_suspect(attributes.keys()):  # a key: the attributes are rebuilt
                log.attributes = self.attributes(attributes)
            else:
                for key, value in list(attributes.items()):
                    attributes[key] = self.value(value)  # type: ignore[index]
        resource, scope = self.resource(record.resource), self.scope(record.instrumentation_scope)
        if resource is record.resource and scope is record.instrumentation_scope:
            return record
        return dataclasses.replace(record, resource=resource, instrumentation_scope=scope)

    # -- metrics -----------------------------------------------------------------
    def metrics(self, data: MetricsData) -> MetricsData:
        resource_metrics = []
        changed = False
        for rm in data.resource_metrics:
            resource = self.resource(rm.resource)
            scope_metrics = []
            for sm in rm.scope_metrics:
                scope = self._blocks.get(sm.scope, self._scope)
                metrics = [self._metric(metric) for metric in sm.metrics]
                if scope is not sm.scope or any(m is not o for m, o in zip(metrics, sm.metrics, strict=True)):
                    sm = dataclasses.replace(sm, scope=scope, metrics=metrics)
                scope_metrics.append(sm)
            same = all(s is o for s, o in zip(scope_metrics, rm.scope_metrics, strict=True))
            if resource is not rm.resource or not same:
                rm = dataclasses.replace(rm, resource=resource, scope_metrics=scope_metrics)
                changed = True
            resource_metrics.append(rm)
        return dataclasses.replace(data, resource_metrics=resource_metrics) if changed else data

    def _metric(self, metric: Metric) -> Metric:
        points = metric.data.data_points
        masked = [self._point(point) for point in points]
        if all(m is o for m, o in zip(masked, points, strict=True)):
            return metric
        data: Any = metric.data  # one of four point-list types
        return dataclasses.replace(metric, data=dataclasses.replace(data, data_points=masked))

    def _point(self, point: Any) -> Any:
        original = point.attributes
        attributes = self.attributes(original)
        exemplars = point.exemplars or []
        masked = [dataclasses.replace(e, filtered_attributes=self.attributes(e.filtered_attributes)) for e in exemplars]
        if attributes is original and all(
            m.filtered_attributes is e.filtered_attributes for m, e in zip(masked, exemplars, strict=True)
        ):
            return point
        return dataclasses.replace(point, attributes=attributes, exemplars=masked)


def _span_strings(span: ReadableSpan) -> Iterator[object]:
    yield span.name
    yield span.status.description
    if span.attributes:
        yield from _items(span.attributes)
    for event in span.events:
        yield event.name
        if event.attributes:
            yield from _items(event.attributes)
    for link in span.links:
        if link.attributes:
            yield from _items(link.attributes)
