"""Tempo's HTTP API: a trace by id (``/api/traces/<id>``) and TraceQL search (``/api/search``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botwatch import env, semconv
from botwatch.audit.audit_errors import SourceError
from botwatch.audit.http import JsonApi
from botwatch.audit.loki import NO_TENANT, org_headers
from botwatch.audit.otlp_json import attributes, resource_spans

SEARCH = "/api/search"


def traceql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spanset(*conditions: str) -> str:
    return "{ " + " && ".join(conditions) + " }"


def span_attr(attribute: str) -> str:
    return f"span.{attribute}"


@dataclass(frozen=True)
class Found:
    """One trace of a search answer, with the attributes of its matched spans."""

    trace_id: str
    start_ns: int
    spans: list[dict[str, Any]] = field(default_factory=list)  # each: attributes + "spanID", "startTimeUnixNano"

    def first(self, attribute: str) -> Any:
        return next((s[attribute] for s in self.spans if attribute in s), None)


class Tempo:
    def __init__(self, url: str, org_id: str | None = None) -> None:
        self.api = JsonApi("Tempo", url, env.TEMPO_URL.name, org_headers(org_id), NO_TENANT)

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        body = self.api.get(f"/api/traces/{trace_id}", missing_ok=True)
        if body is None:
            return None
        try:
            resource_spans(body)
        except ValueError as error:
            raise self.api.garbage(f"/api/traces/{trace_id}", "batches of spans") from error
        return dict(body)

    def search(self, query: str, start_s: int, end_s: int, *, limit: int = 20, spans_per_set: int = 3) -> list[Found]:
        """Matching traces, newest first."""
        params = {"q": query, "start": start_s, "end": max(end_s, start_s + 1), "limit": limit, "spss": spans_per_set}
        body = self.api.get(SEARCH, params)
        if not isinstance(body, dict) or not isinstance(body.get("traces", []), list):
            raise self.api.garbage(SEARCH, "a traces list")
        try:
            found = [self._found(t) for t in body.get("traces") or []]
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise SourceError(f"Tempo at {self.api.base_url} answered malformed search results ({error})") from error
        return sorted(found, key=lambda f: f.start_ns, reverse=True)

    @staticmethod
    def _found(trace: dict[str, Any]) -> Found:
        sets: Iterable[dict[str, Any]] = trace.get("spanSets") or ([trace["spanSet"]] if trace.get("spanSet") else [])
        spans = []
        for one in sets:
            for span in one.get("spans") or []:
                spans.append(
                    {
                        **attributes(span.get("attributes")),
                        "spanID": span.get("spanID"),
                        "startTimeUnixNano": int(span.get("startTimeUnixNano", 0)),
                    }
                )
        return Found(str(trace["traceID"]), int(trace.get("startTimeUnixNano", 0)), spans)

    def close(self) -> None:
        self.api.close()


CONVERSATION_SELECT = f" | select({span_attr(semconv.GEN_AI_CONVERSATION_ID)})"
