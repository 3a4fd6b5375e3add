"""Loki's ``/loki/api/v1/query_range``: log lines of a LogQL query, paged forward in time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from botwatch import env, semconv
from botwatch.audit.audit_errors import SourceError
from botwatch.audit.http import JsonApi

QUERY_RANGE = "/loki/api/v1/query_range"
PAGE = 5000  # Loki's default max_entries_limit_per_query
# Loki's OTLP ingestion: service.name is a stream label, dots become underscores.
STREAM = '{service_name=~".+"}'
ORG_HEADER = "X-Scope-OrgID"  # the tenant(s) a multi-tenant Loki or Tempo answers for; "a|b" reads several
NO_TENANT = (
    "this stack keeps each tenant's data apart (X-Scope-OrgID): give --tenant ID, or the tenants file "
    "($BOTWATCH_TENANTS) to read every tenant"
)


def org_headers(org_id: str | None) -> dict[str, str]:
    return {ORG_HEADER: org_id} if org_id else {}


def stream_selector(service: str | None) -> str:
    if not service:
        return STREAM
    escaped = service.replace("\\", "\\\\").replace('"', '\\"')
    return f'{{service_name="{escaped}"}}'


@dataclass(frozen=True)
class LokiLine:
    time_ns: int
    line: str
    labels: Mapping[str, str]  # stream labels and structured metadata, merged


def logql_filter(attribute: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'| {semconv.prometheus_label(attribute)} = "{escaped}"'


def logql_event(name: str) -> str:
    """Lines of one event: ``event_name`` (copied by the collector), or the attribute older SDKs wrote."""
    current, legacy = semconv.event_names_read(name)
    old = semconv.prometheus_label(semconv.LEGACY_EVENT_ATTRIBUTE)
    return f'| {semconv.LOKI_EVENT_NAME} = "{current}" or {old} = "{legacy}"'


def event_name_of(labels: Mapping[str, str]) -> str | None:
    """The event name of a Loki line, as botwatch writes it now."""
    name = labels.get(semconv.LOKI_EVENT_NAME) or labels.get(semconv.prometheus_label(semconv.LEGACY_EVENT_ATTRIBUTE))
    return semconv.current_event_name(name)


class Loki:
    def __init__(self, url: str, org_id: str | None = None) -> None:
        self.api = JsonApi("Loki", url, env.LOKI_URL.name, org_headers(org_id), NO_TENANT)

    def lines(self, query: str, start_ns: int, end_ns: int, page: int = PAGE) -> Iterator[LokiLine]:
        """Every line in [start, end), oldest first; one page in memory at a time."""
        cursor = start_ns
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()  # lines already given at ``cursor``
        while cursor < end_ns:
            params = {"query": query, "start": cursor, "end": end_ns, "limit": page, "direction": "forward"}
            entries = sorted(self._entries(self.api.get(QUERY_RANGE, params)), key=lambda e: e.time_ns)
            fresh = False
            for entry in entries:
                if entry.time_ns == cursor and _key(entry) in seen:
                    continue  # the previous page ended at this nanosecond
                fresh = True
                yield entry
            if len(entries) < page or not fresh:
                return
            last = entries[-1].time_ns
            at_last = {_key(e) for e in entries if e.time_ns == last}
            seen = seen | at_last if last == cursor else at_last
            cursor = last

    def _entries(self, body: object) -> Iterator[LokiLine]:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(data, dict):
            raise self.api.garbage(QUERY_RANGE, "status success and data")
        if data.get("resultType") != "streams" or not isinstance(data.get("result"), list):
            raise self.api.garbage(QUERY_RANGE, "a streams result")
        try:
            for stream in data["result"]:
                labels = dict(stream.get("stream") or {})
                for value in stream.get("values") or []:
                    merged = labels
                    if len(value) > 2 and isinstance(value[2], dict):  # categorize-labels encoding
                        merged = {**labels, **value[2].get("structuredMetadata", {}), **value[2].get("parsed", {})}
                    yield LokiLine(int(value[0]), str(value[1]), merged)
        except (TypeError, ValueError, IndexError, AttributeError) as error:
            raise SourceError(f"Loki at {self.api.base_url} answered malformed streams ({error})") from error

    def close(self) -> None:
        self.api.close()


def _key(entry: LokiLine) -> tuple[str, tuple[tuple[str, str], ...]]:
    return entry.line, tuple(sorted(entry.labels.items()))
