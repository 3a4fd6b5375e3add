"""The owner's numbers from Prometheus (``/api/v1/query``), in the journal's :class:`Kpi` shape.

Counts over a window are ``max_over_time(counter[w])`` minus the counter's
last value before the window (0 for a series born inside it), summed over
series: exact whole numbers, where ``increase()`` would extrapolate and miss
the first increment of a new series.  Differences from the journal's
definitions: conversion is booking_created / conversations started counted
in the same window; "low confidence" counts the 0.6 bucket (≤ 0.6, the
journal counts < 0.6); p50/p95 come from histogram buckets (interpolated);
the per-conversation numbers (closed without a human, no-shows after a
reminder) are None: counters cannot join one conversation's events.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

from botwatch import env, semconv
from botwatch.audit.http import JsonApi
from botwatch.journal import Kpi

QUERY = "/api/v1/query"


def _matchers(**labels: str) -> str:
    # A JSON string is a PromQL string literal: quotes, backslashes and line breaks escaped.
    return ",".join(
        f"{semconv.prometheus_label(k) if '.' in k else k}={json.dumps(v, ensure_ascii=False)}"
        for k, v in labels.items()
    )


def window_delta(series: str, window: str, by: str = "") -> str:
    """Growth of counter ``series`` during the window ending at the query time."""
    group = f" by ({by})" if by else ""
    end = f"sum{group} (max_over_time({series}[{window}]))"
    start = f"sum{group} (last_over_time({series}[{window}] offset {window}))"
    return f"({end} - ({start} or {end} * 0))"


def _duration(delta: timedelta) -> str:
    return f"{max(int(delta.total_seconds()), 1)}s"


class Prometheus:
    def __init__(self, url: str, job: str | None = None, tenant: str | None = None) -> None:
        self.api = JsonApi("Prometheus", url, env.PROMETHEUS_URL.name)
        self.job = job
        self.tenant = tenant  # botwatch_tenant="..." on every query: Prometheus itself has no tenants

    def vector(self, query: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        body = self.api.get(QUERY, {"query": query, "time": f"{at.timestamp():.3f}"})
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            raise self.api.garbage(QUERY, "status success and data")
        data = body["data"]
        if data.get("resultType") not in ("vector", "scalar") or not isinstance(data.get("result"), list):
            raise self.api.garbage(QUERY, "a vector result")
        out = []
        try:
            for item in data["result"]:
                out.append((dict(item.get("metric") or {}), float(item["value"][1])))
        except (TypeError, ValueError, KeyError, IndexError) as error:
            raise self.api.garbage(QUERY, f"sample values ({error})") from error
        return out

    def scalar(self, query: str, at: datetime) -> float | None:
        values = [v for _, v in self.vector(query, at) if not math.isnan(v)]
        return sum(values) if values else None

    def count(self, query: str, at: datetime) -> int:
        return round(self.scalar(query, at) or 0.0)

    def kpi(self, since: timedelta, until: datetime) -> Kpi:
        w = _duration(since)
        at = until

        job = {semconv.PROMETHEUS_JOB_LABEL: self.job} if self.job else {}
        if self.tenant:
            job[semconv.TENANT] = self.tenant

        def delta(name: str, by: str = "", **labels: str) -> str:
            return window_delta(f"{name}{{{_matchers(**job, **labels)}}}", w, by)

        def bucket(name: str, le: str) -> str:
            return window_delta(f'{name}{{{_matchers(**job)}{"," if job else ""}le=~"{le}"}}', w)

        def stage(name: str) -> int:
            return self.count(delta(semconv.FUNNEL_EVENTS.prometheus, **{semconv.FUNNEL_STAGE: name}), at)

        turns_hist = semconv.TURN_DURATION.prometheus
        conf_hist = semconv.INTENT_CONFIDENCE_METRIC.prometheus
        turns = self.count(delta(f"{turns_hist}_count"), at)
        within_sla = self.count(bucket(f"{turns_hist}_bucket", "3(\\\\.0)?"), at)
        with_intent = self.count(delta(f"{conf_hist}_count"), at)
        low = self.count(bucket(f"{conf_hist}_bucket", "0\\\\.6"), at)
        crm = semconv.CRM_ACTIONS.prometheus
        lead = {semconv.CRM_ACTION: semconv.CRM_ACTION_LEAD_CREATE}
        tokens = dict.fromkeys((semconv.GEN_AI_TOKEN_TYPE_INPUT, semconv.GEN_AI_TOKEN_TYPE_OUTPUT), 0)
        token_label = semconv.prometheus_label(semconv.GEN_AI_TOKEN_TYPE)
        for labels, value in self.vector(delta(f"{semconv.GEN_AI_TOKEN_USAGE.prometheus}_sum", by=token_label), at):
            if labels.get(token_label) in tokens:
                tokens[labels[token_label]] = round(value)

        def quantile(q: float) -> float | None:
            if not turns:
                return None
            value = self.scalar(f"histogram_quantile({q}, {delta(f'{turns_hist}_bucket', by='le')})", at)
            return None if value is None or math.isinf(value) else value

        return Kpi(
            since=until - since,
            until=until,
            conversations=self.count(delta(semconv.CONVERSATIONS.prometheus), at),
            conversations_booked=stage(semconv.BOOKING_CREATED),
            turns=turns,
            turns_over_sla=max(turns - within_sla, 0),
            turn_p50_s=quantile(0.5),
            turn_p95_s=quantile(0.95),
            turns_with_intent=with_intent,
            low_confidence_turns=low,
            no_shows=stage(semconv.NO_SHOW),
            visits_completed=stage(semconv.VISIT_COMPLETED),
            escalations=stage(semconv.ESCALATED),
            lead_creates=self.count(delta(crm, **lead), at),
            lead_create_failures=self.count(delta(crm, **lead, **{semconv.CRM_OUTCOME: semconv.CRM_OUTCOME_ERROR}), at),
            llm_calls=self.count(delta(f"{semconv.GEN_AI_OPERATION_DURATION.prometheus}_count"), at),
            input_tokens=tokens[semconv.GEN_AI_TOKEN_TYPE_INPUT],
            output_tokens=tokens[semconv.GEN_AI_TOKEN_TYPE_OUTPUT],
            llm_cost=self.scalar(delta(semconv.LLM_COST_METRIC.prometheus), at) or 0.0,
            rescheduled=stage(semconv.RESCHEDULED),
            complaints=stage(semconv.COMPLAINT),
            services=(self.job,) if self.job else (),
        )

    def close(self) -> None:
        self.api.close()
