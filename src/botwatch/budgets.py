"""Label budgets per tenant: one tenant's junk folds into its own ``other``, never into everyone's overflow.

Two budgets bound what a tenant (a business; ``botwatch.tenant``) can add to
the metrics:

* **values**: each budgeted label (intent, model, variant, provider, CRM
  system and action, error type) takes its first N distinct values per
  tenant (:data:`VALUE_LIMITS`); later ones are ``other`` for that tenant.
  One tenant's 10 000 junk intents no longer take the slots of another's
  real ones.
* **series**: each metric takes ``label_budget`` label sets per tenant (or
  that tenant's own, ``label_budgets``: the tenants file's ``label_budget``,
  which the gateway passes for its tenants); a measurement with a new set past that has its budgeted labels folded into
  ``other`` (channel, funnel stage and outcome are kept), then, past a
  small reserve, every label.  50 intents × 20 models × 20 variants of one
  tenant stay that tenant's few hundred series.

Each fold counts on ``botwatch.label.budget.exceeded`` (tenant, kind,
subject).  The SDK's own cardinality limit, whose overflow series has no
labels at all and so hides every tenant, is sized from these budgets so it
is never reached: the budgets of the tenants named in ``label_budgets`` plus
``label_budget`` for every other slot, each with its reserve, per metric
(``max_tenants + 2`` slots: the process's own tenant, ``max_tenants`` others,
and ``other`` for the tenants past that).

A process of one business has its tenant on the resource (``init(tenant=)``,
``BOTWATCH_TENANT`` or ``OTEL_RESOURCE_ATTRIBUTES``).  A process recording for
several (the webhook gateway) names the tenant per conversation
(``botwatch.conversation(..., tenant=)``); that tenant is then also an
attribute of the conversation's series, so each tenant's series stay apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.sdk.metrics.view import View
from opentelemetry.util.types import Attributes

from botwatch import semconv
from botwatch.label_guard import FrozenLabels, LabelGuard
from botwatch.semconv import OTHER
from botwatch.settings import resolve_tenant

if TYPE_CHECKING:
    from botwatch.instruments import Instruments
    from botwatch.settings import Settings

# Distinct values per label and tenant when no allow-list is configured.
VALUE_LIMITS: dict[str, int] = {
    semconv.INTENT: 50,
    semconv.GEN_AI_REQUEST_MODEL: 20,
    semconv.SCENARIO_VARIANT: 20,
    semconv.GEN_AI_PROVIDER_NAME: 10,
    semconv.CRM_SYSTEM: 5,
    semconv.CRM_ACTION: 30,
    semconv.ERROR_TYPE: 30,
}
# Labels a spent series budget folds into OTHER (bounded ones - channel, stage, outcome - stay).
FOLDED = frozenset(
    {
        *VALUE_LIMITS,
        semconv.GEN_AI_RESPONSE_MODEL,
        semconv.REVIEW_TRUE_INTENT,
    }
)
_ADMITTED_LIMIT = 8192  # FrozenLabels remembered as admitted (see LabelBudgets.admit)
SERIES_RESERVE = 64  # folded label sets a tenant may add past its budget (one per channel, stage, outcome...)
_SHAPES = 8  # fully folded label sets: one per set of label keys a metric records


@dataclass(frozen=True)
class Guards:
    """The label guards of one tenant, and the attribute that puts the tenant on its series (if any)."""

    tenant: dict[str, str]
    channels: LabelGuard
    intents: LabelGuard
    models: LabelGuard
    variants: LabelGuard
    providers: LabelGuard
    crm_systems: LabelGuard
    crm_actions: LabelGuard
    errors: LabelGuard


class LabelBudgets:
    def __init__(self, settings: Settings, tenant: str, is_sensitive: Callable[[str], bool]) -> None:
        self.tenant = tenant  # this process's own ("" when it has none)
        self.series = settings.label_budget  # every tenant's, unless it has its own below
        self.max_tenants = settings.max_tenants
        self.budgets = checked_budgets(settings.label_budgets)
        self._settings = settings
        self._sensitive = is_sensitive
        # Channels are a fixed allow-list: one guard serves every tenant.
        self._channels = LabelGuard(
            settings.channels, limit=len(settings.channels), is_sensitive=is_sensitive, lowercase=True
        )
        self._guards: dict[str | None, Guards] = {}
        self._values: dict[str, dict[str, LabelGuard]] = {}
        self._seen: dict[tuple[str, str], set[frozenset[tuple[str, Any]]]] = {}
        # FrozenLabels objects admitted as they are, per metric (a series once seen stays seen).
        self._admitted: dict[tuple[str, int], Mapping[str, Any]] = {}
        self._lock = threading.Lock()
        self._exceeded: Counter | None = None

    # -- the SDK side ------------------------------------------------------------
    def views(self) -> list[View]:
        """Cardinality limits above the sum of the budgets, so the SDK's overflow series is never used."""
        tenants = self.max_tenants + 2
        own = sorted(self.budgets.values(), reverse=True)[:tenants]  # the largest, should all of them be seen
        per_metric = sum(b + SERIES_RESERVE + _SHAPES for b in own)
        per_metric += (tenants - len(own)) * (self.series + SERIES_RESERVE + _SHAPES)
        views = [View(instrument_name=m.name, aggregation_cardinality_limit=per_metric) for m in semconv.METRICS]
        small = tenants * 64  # gateway events (tenant × outcome × reason), budget hits (tenant × kind × subject)
        for spec in (*semconv.GATEWAY_METRICS, semconv.LABEL_BUDGET_EXCEEDED):
            views.append(View(instrument_name=spec.name, aggregation_cardinality_limit=max(small, 2000)))
        return views

    def attach(self, instruments: Instruments, meter: Meter) -> None:
        """Every measurement of ``instruments`` passes the series budget of its tenant first."""
        spec = semconv.LABEL_BUDGET_EXCEEDED
        self._exceeded = meter.create_counter(spec.name, unit=spec.unit, description=spec.description)
        for field, instrument in vars(instruments).items():
            if isinstance(instrument, Histogram):
                setattr(instruments, field, _BudgetedHistogram(instrument, self.admit))
            elif isinstance(instrument, Counter):
                setattr(instruments, field, _BudgetedCounter(instrument, self.admit))

    def _hit(self, tenant: str, kind: str, subject: str) -> None:
        if self._exceeded is not None:
            self._exceeded.add(1, {semconv.TENANT: tenant, semconv.BUDGET_KIND: kind, semconv.BUDGET_SUBJECT: subject})

    # -- values ------------------------------------------------------------------
    def guards(self, tenant: str | None = None) -> Guards:
        """The guards of ``tenant`` (None: this process's own); past ``max_tenants``, the shared ``other``."""
        found = self._guards.get(tenant)
        if found is not None:
            return found
        if tenant is not None:
            resolve_tenant(tenant, {})  # a tenant id, not free text: it becomes a label
        with self._lock:
            found = self._guards.get(tenant)
            if found is None:
                name = self.tenant if tenant is None else tenant
                if name not in self._values and len(self._values) > self.max_tenants:
                    name = OTHER
                found = self._guards[tenant] = self._make(name, on_series=tenant is not None)
        return found

    def _make(self, name: str, *, on_series: bool) -> Guards:
        """Runs under the lock."""
        values = self._values.get(name)
        if values is None:
            s = self._settings
            allowed = {
                semconv.INTENT: s.intents,
                semconv.GEN_AI_REQUEST_MODEL: s.models,
                semconv.SCENARIO_VARIANT: s.variants,
            }
            values = self._values[name] = {
                key: LabelGuard(
                    allowed.get(key),
                    limit=limit,
                    is_sensitive=self._sensitive,
                    lowercase=key == semconv.INTENT,
                    default="default" if key == semconv.SCENARIO_VARIANT else "unknown",
                    on_full=self._counter(name, key),
                )
                for key, limit in VALUE_LIMITS.items()
            }
        return Guards(
            tenant={semconv.TENANT: name} if on_series else {},
            channels=self._channels,
            intents=values[semconv.INTENT],
            models=values[semconv.GEN_AI_REQUEST_MODEL],
            variants=values[semconv.SCENARIO_VARIANT],
            providers=values[semconv.GEN_AI_PROVIDER_NAME],
            crm_systems=values[semconv.CRM_SYSTEM],
            crm_actions=values[semconv.CRM_ACTION],
            errors=values[semconv.ERROR_TYPE],
        )

    def _counter(self, tenant: str, label: str) -> Callable[[], None]:
        return lambda: self._hit(tenant, semconv.BUDGET_KIND_VALUES, label)

    # -- series --------------------------------------------------------------------
    def budget(self, tenant: str) -> int:
        """Label sets per metric ``tenant`` may have before new ones fold into ``other``."""
        return self.budgets.get(tenant, self.series)

    def admit(self, metric: str, attributes: Attributes) -> Attributes:
        """``attributes`` if its series fits the tenant's budget, else the same folded into ``other``."""
        if not attributes:
            return attributes
        frozen = attributes.__class__ is FrozenLabels
        if frozen and self._admitted.get((metric, id(attributes))) is attributes:
            return attributes
        tenant = str(attributes.get(semconv.TENANT, self.tenant))
        key = frozenset(attributes.items())
        seen = self._seen.get((tenant, metric))
        if seen is not None and key in seen:
            if frozen:  # the same object next time: no hashing
                if len(self._admitted) >= _ADMITTED_LIMIT:
                    self._admitted.clear()
                self._admitted[(metric, id(attributes))] = attributes
            return attributes
        with self._lock:
            seen = self._seen.get((tenant, metric))
            if seen is None:
                if tenant not in self._values and tenant != self.tenant and len(self._values) > self.max_tenants:
                    attributes = {
                        **attributes,
                        semconv.TENANT: OTHER,
                    }  # a tenant past the cap (guards(...) folds it too)
                    tenant, key = OTHER, frozenset(attributes.items())
                seen = self._seen.setdefault((tenant, metric), set())
            if key in seen:
                return attributes
            budget = self.budget(tenant)
            if len(seen) < budget:
                seen.add(key)
                return attributes
            folded = _fold(attributes, FOLDED)
            if frozenset(folded.items()) not in seen and len(seen) >= budget + SERIES_RESERVE:
                folded = _fold(attributes, set(attributes) - {semconv.TENANT})
            seen.add(frozenset(folded.items()))
        self._hit(tenant, semconv.BUDGET_KIND_SERIES, metric)
        return folded


def checked_budgets(budgets: Mapping[str, int]) -> dict[str, int]:
    """``budgets`` (tenant id -> label sets per metric) if every entry is usable; ValueError naming the bad one."""
    checked: dict[str, int] = {}
    for tenant, budget in budgets.items():
        try:
            resolve_tenant(str(tenant), {})
        except ValueError as error:
            raise ValueError(f"label_budgets: {error}") from None
        if isinstance(budget, bool) or not isinstance(budget, int):
            raise ValueError(f"label_budgets: tenant {tenant}: {budget!r} is not a whole number of label sets")
        if budget < 1:
            raise ValueError(f"label_budgets: tenant {tenant}: {budget} label sets; a budget must be at least 1")
        checked[str(tenant)] = budget
    return checked


def _fold(attributes: Mapping[str, Any], keys: frozenset[str] | set[str]) -> dict[str, Any]:
    return {k: OTHER if k in keys and v not in ("", None) else v for k, v in attributes.items()}


def _name(instrument: Any) -> str:
    """The name of an SDK instrument (the API's base classes do not keep it)."""
    return str(instrument.name)


class _BudgetedHistogram(Histogram):
    def __init__(self, instrument: Histogram, admit: Callable[[str, Attributes], Attributes]) -> None:
        self._instrument, self._admit, self._name = instrument, admit, _name(instrument)

    def record(self, amount: int | float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._instrument.record(amount, self._admit(self._name, attributes), context)


class _BudgetedCounter(Counter):
    def __init__(self, instrument: Counter, admit: Callable[[str, Attributes], Attributes]) -> None:
        self._instrument, self._admit, self._name = instrument, admit, _name(instrument)

    def add(self, amount: int | float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._instrument.add(amount, self._admit(self._name, attributes), context)
