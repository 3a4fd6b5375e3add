"""The stack as an audit source: Tempo for traces, Loki for log lines, Prometheus for aggregates.

What Tempo and Loki return for a conversation is staged in a scratch
journal through the journal's own exporters, so replay and summaries are
the same code on both sources.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botwatch import semconv
from botwatch.audit.audit_errors import SourceError
from botwatch.audit.loki import Loki, LokiLine, event_name_of, logql_event, logql_filter, stream_selector
from botwatch.audit.otlp_json import loki_attributes, readable_log, readable_spans
from botwatch.audit.prometheus_kpi import Prometheus
from botwatch.audit.source import SourceOptions
from botwatch.audit.tempo import CONVERSATION_SELECT, Found, Tempo, span_attr, spanset, traceql_string
from botwatch.journal import Journal, JournalLogExporter, JournalSettings, JournalSpanExporter, Kpi, ReplayEntry
from botwatch.journal.schema import connect
from botwatch.journal.session_queries import LogLine, LowConfidenceTurn, SessionFilter, SessionSummary

KEEP = JournalSettings(retention=timedelta(days=36_500), metrics_retention=timedelta(days=36_500))
SEARCH_LIMIT = 1000  # traces one TraceQL search may return (sample, weekly)
TURN = f'name = "{semconv.SPAN_TURN}"'
LOW = f"{span_attr(semconv.INTENT_CONFIDENCE)} < {semconv.LOW_CONFIDENCE:g}"
SLA = f"{span_attr(semconv.SLA_BREACHED)} = true"
CRM_FAILED = f"{span_attr(semconv.CRM_OUTCOME)} = {traceql_string(semconv.CRM_OUTCOME_ERROR)}"


def _s(moment: datetime) -> int:
    return int(moment.timestamp())


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


def traceql_for(flt: SessionFilter, service: str | None = None) -> list[str]:
    """TraceQL queries whose union is the filter (``any_problem`` is three searches)."""
    scope = [f"resource.{semconv.SERVICE_NAME} = {traceql_string(service)}"] if service else []
    if flt.channel is not None:
        scope.append(f"{span_attr(semconv.CHANNEL)} = {traceql_string(flt.channel)}")
    if flt.variant is not None:
        scope.append(f"{span_attr(semconv.SCENARIO_VARIANT)} = {traceql_string(flt.variant)}")
    sets = []
    if flt.intent is not None:
        sets.append(spanset(TURN, f"{span_attr(semconv.INTENT)} = {traceql_string(flt.intent)}", *scope))
    if flt.low_confidence:
        sets.append(spanset(TURN, LOW, *scope))
    if flt.sla_breached:
        sets.append(spanset(TURN, SLA, *scope))
    if flt.crm_failed:
        sets.append(spanset(CRM_FAILED, *scope))
    if not sets:
        sets.append(spanset(f'name = "{semconv.SPAN_CONVERSATION}"', *scope))
    base = " && ".join(sets)
    if not flt.any_problem:
        return [base + CONVERSATION_SELECT]
    return [
        f"{base} && {spanset(extra, *scope)}{CONVERSATION_SELECT}"
        for extra in (f"{TURN} && {LOW}", f"{TURN} && {SLA}", CRM_FAILED)
    ]


class StackSource:
    def __init__(self, options: SourceOptions, org_id: str | None = None) -> None:
        """``org_id``: the X-Scope-OrgID for Loki and Tempo (``--tenant``, or every tenant as ``a|b|c``);
        with ``options.tenant`` Prometheus' queries also carry ``botwatch_tenant``."""
        assert options.loki_url and options.tempo_url and options.prometheus_url
        self.loki = Loki(options.loki_url, org_id)
        self.tempo = Tempo(options.tempo_url, org_id)
        self.prometheus = Prometheus(options.prometheus_url, options.service, options.tenant)
        self.service = options.service
        self.stream = stream_selector(options.service)
        self.scope = [f"resource.{semconv.SERVICE_NAME} = {traceql_string(options.service)}"] if options.service else []
        self.lookback = options.lookback
        self.description = f"Loki {options.loki_url}, Tempo {options.tempo_url}, Prometheus {options.prometheus_url}"
        if options.tenant:
            self.description += f", tenant {options.tenant}"
        self._dir = Path(tempfile.mkdtemp(prefix="botwatch-stack-"))
        self._path = self._dir / "staged.sqlite"
        self._spans = JournalSpanExporter(self._path, settings=KEEP)
        self._logs = JournalLogExporter(self._path, settings=KEEP)
        self._journal: Journal | None = None
        self._staged_traces: set[str] = set()
        self._staged_logs: set[str] = set()

    # -- staging ---------------------------------------------------------------------------------------
    @property
    def staged(self) -> Journal:
        if self._journal is None:
            connect(self._path, create=True).close()
            self._journal = Journal(self._path)
        return self._journal

    def _stage_trace(self, trace_id: str) -> bool:
        if trace_id in self._staged_traces:
            return True
        body = self.tempo.trace(trace_id)
        if body is None:
            return False
        try:
            spans = list(readable_spans(body))
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise SourceError(f"Tempo answered a malformed trace {trace_id} ({error})") from error
        if spans and not self._spans.export(spans).name == "SUCCESS":
            raise SourceError(f"could not stage trace {trace_id} in {self._path}")
        self.staged  # noqa: B018 - make sure the staged journal exists
        self._staged_traces.add(trace_id)
        return True

    def _stage_logs(self, conversation_id: str) -> None:
        if conversation_id in self._staged_logs:
            return
        now = datetime.now(UTC)
        query = f"{self.stream} {logql_filter(semconv.GEN_AI_CONVERSATION_ID, conversation_id)}"
        batch = [
            readable_log(e.time_ns, e.line, e.labels)
            for e in self.loki.lines(query, _ns(now - self.lookback), _ns(now))
        ]
        if batch:
            self._logs.export(batch)
        self._staged_logs.add(conversation_id)

    def _find(self, conversation_id: str) -> Found | None:
        now = datetime.now(UTC)
        query = spanset(f"{span_attr(semconv.GEN_AI_CONVERSATION_ID)} = {traceql_string(conversation_id)}", *self.scope)
        found = self.tempo.search(query + CONVERSATION_SELECT, _s(now - self.lookback), _s(now) + 1, limit=5)
        return found[0] if found else None

    # -- Source ----------------------------------------------------------------------------------------
    def sessions(
        self, flt: SessionFilter, since: datetime, until: datetime, *, limit: int, offset: int = 0
    ) -> list[SessionSummary]:
        found: dict[str, Found] = {}
        for query in traceql_for(flt, self.service):
            for hit in self.tempo.search(query, _s(since), _s(until) + 1, limit=offset + limit):
                found.setdefault(hit.trace_id, hit)
        page = sorted(found.values(), key=lambda f: f.start_ns, reverse=True)[offset : offset + limit]
        out = []
        for hit in page:
            conversation_id = hit.first(semconv.GEN_AI_CONVERSATION_ID)
            if not conversation_id or not self._stage_trace(hit.trace_id):
                continue
            summary = self.staged.session(str(conversation_id))
            out.append(summary or SessionSummary(str(conversation_id), hit.start_ns, None, trace_id=hit.trace_id))
        return out

    def session(self, conversation_id: str) -> SessionSummary | None:
        hit = self._find(conversation_id)
        if hit is None or not self._stage_trace(hit.trace_id):
            return None
        return self.staged.session(conversation_id) or SessionSummary(
            conversation_id, hit.start_ns, None, trace_id=hit.trace_id
        )

    def replay(self, conversation_id: str) -> list[ReplayEntry]:
        hit = self._find(conversation_id)
        if hit is not None:
            self._stage_trace(hit.trace_id)
        self._stage_logs(conversation_id)
        return self.staged.replay(conversation_id)

    def conversation_ids(self, since: datetime, until: datetime) -> Iterator[str]:
        query = spanset(f'name = "{semconv.SPAN_CONVERSATION}"', *self.scope) + CONVERSATION_SELECT
        hits = self.tempo.search(query, _s(since), _s(until) + 1, limit=SEARCH_LIMIT)
        for hit in reversed(hits):
            conversation_id = hit.first(semconv.GEN_AI_CONVERSATION_ID)
            if conversation_id and since <= _time(hit.start_ns) < until:
                yield str(conversation_id)

    def low_confidence_turns(self, since: datetime, until: datetime) -> list[LowConfidenceTurn]:
        fields = (semconv.GEN_AI_CONVERSATION_ID, semconv.TURN_INDEX, semconv.INTENT, semconv.INTENT_CONFIDENCE)
        select = " | select(" + ", ".join(span_attr(f) for f in (*fields, semconv.CHANNEL)) + ")"
        hits = self.tempo.search(
            spanset(TURN, LOW, *self.scope) + select, _s(since), _s(until) + 1, limit=SEARCH_LIMIT, spans_per_set=50
        )
        turns = []
        for hit in hits:
            for span in hit.spans:
                confidence = span.get(semconv.INTENT_CONFIDENCE)
                start = int(span.get("startTimeUnixNano") or hit.start_ns)
                if not isinstance(confidence, int | float) or not since <= _time(start) < until:
                    continue
                turns.append(
                    LowConfidenceTurn(
                        str(span.get(semconv.GEN_AI_CONVERSATION_ID, "")),
                        _int(span.get(semconv.TURN_INDEX)),
                        start,
                        span.get(semconv.INTENT),
                        float(confidence),
                        span.get(semconv.CHANNEL),
                    )
                )
        turns.sort(key=lambda t: t.time_ns)
        return self._with_texts(turns, since, until)

    def _with_texts(self, turns: list[LowConfidenceTurn], since: datetime, until: datetime) -> list[LowConfidenceTurn]:
        wanted = {(t.conversation_id, t.turn_index) for t in turns}
        if not wanted:
            return turns
        texts: dict[tuple[str, int | None], str] = {}
        query = f"{self.stream} {logql_event(semconv.EVENT_MESSAGE_RECEIVED)}"
        for line in self.loki.lines(query, _ns(since), _ns(until)):
            attrs = loki_attributes(line.labels)
            key = (str(attrs.get(semconv.GEN_AI_CONVERSATION_ID)), _int(attrs.get(semconv.TURN_INDEX)))
            if key in wanted:
                texts.setdefault(key, line.line)
        return [
            LowConfidenceTurn(
                t.conversation_id,
                t.turn_index,
                t.time_ns,
                t.intent,
                t.confidence,
                t.channel,
                texts.get((t.conversation_id, t.turn_index)),
            )
            for t in turns
        ]

    def count_log_lines(self, since: datetime, until: datetime) -> int | None:
        return None

    def log_lines(self, since: datetime, until: datetime) -> Iterator[LogLine]:
        for line in self.loki.lines(self.stream, _ns(since), _ns(until)):
            yield _log_line(line)

    def client_phone(self, conversation_id: str) -> str | None:
        return None  # only the trace's root span has it; export from the stack leaves it empty

    def turn_of(self, conversation_id: str, turn_index: int) -> tuple[str | None, float | None] | None:
        hit = self._find(conversation_id)
        if hit is None or not self._stage_trace(hit.trace_id):
            return None
        return self.staged.turn_of(conversation_id, turn_index)

    def kpi(self, since: timedelta, until: datetime) -> Kpi:
        return self.prometheus.kpi(since, until)

    # -- insights ----------------------------------------------------------------------------------------
    def stage_window(
        self, since: datetime, until: datetime, progress: Callable[[str], None] | None = None
    ) -> tuple[Journal, int]:
        """Every conversation trace started in [since, until), staged: the journal insights reads, and how many
        searches hit Tempo's limit (conversations possibly left out).  Searched a day at a time, an hour at a
        time where a day holds more than one search returns."""
        say = progress or (lambda _text: None)
        conversations = spanset(f'name = "{semconv.SPAN_CONVERSATION}"', *self.scope) + CONVERSATION_SELECT
        capped, staged, start = 0, 0, since
        while start < until:
            end = min(start + timedelta(days=1), until)
            hits = self.tempo.search(conversations, _s(start), _s(end) + 1, limit=SEARCH_LIMIT)
            if len(hits) >= SEARCH_LIMIT:  # a busy day: an hour at a time
                hits, hour = [], start
                while hour < end:
                    next_hour = min(hour + timedelta(hours=1), end)
                    found = self.tempo.search(conversations, _s(hour), _s(next_hour) + 1, limit=SEARCH_LIMIT)
                    capped += len(found) >= SEARCH_LIMIT
                    hits, hour = hits + found, next_hour
            for hit in {h.trace_id: h for h in hits if start <= _time(h.start_ns) < end}.values():
                staged += self._stage_trace(hit.trace_id)
            say(f"Tempo: {staged} conversations up to {end:%Y-%m-%d %H:%M}")
            start = end
        return self.staged, capped

    def close(self) -> None:
        for client in (self.loki, self.tempo, self.prometheus):
            client.close()
        if self._journal is not None:
            self._journal.close()
        self._spans.shutdown()
        self._logs.shutdown()
        shutil.rmtree(self._dir, ignore_errors=True)


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


def _log_line(line: LokiLine) -> LogLine:
    attrs = loki_attributes(line.labels)
    return LogLine(
        line.time_ns,
        event_name_of(line.labels),
        line.line,
        attrs.get(semconv.GEN_AI_CONVERSATION_ID),
        attrs.get(semconv.CHANNEL),
        _int(attrs.get(semconv.TURN_INDEX)),
        attrs,
        line.labels.get("trace_id"),
    )
