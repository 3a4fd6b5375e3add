"""The tenants file: one TOML file describing every business (tenant) the stack serves.

It is the gateway's tenants file (``botwatch gateway --tenants``) with more
keys per tenant; the gateway reads its own keys (token, signing secret, rate,
Bitrix24) and ignores these.  Everything else renders from it: Alertmanager
routes (``botwatch.stack.tenant_routes``), per-tenant thresholds in the rules
(``botwatch.stack.tenant_rules``), reports and audit filters::

    [[tenants]]
    id = "salon-1"                    # botwatch.tenant: init(tenant="salon-1") / the gateway per token
    token_env = "SALON1_TOKEN"        # gateway keys, as before
    language = "ru"                   # ru (default) or en: owner-facing text
    label_budget = 300                # label sets per metric for this tenant (the gateway applies it)
    retention = "90d"                 # the journal keeps this tenant's traces and logs this long ("36h", "90d", "12w")
    [tenants.owner]
    chat_id = -1001234567890          # Telegram chat of the owner: alerts and reports (required)
    thread_id = 12                    # optional: a topic of a forum group
    [tenants.managers]
    chat_id = -1009876543210          # optional: the managers' chat (no client text, no client hashes)
    [tenants.targets]
    sla_seconds = 5                   # a turn is late past this (a bucket edge of botwatch.turn.duration)
    confidence_floor = 0.6            # an intent at or under this is "not understood" (a confidence bucket edge)
    lead_failure_share = 0.10         # share of failed lead.create calls that alerts

    [integrator]                      # optional: the integrator's own chat (thread_id too); gets the tally of
    chat_id = -1001111111111          # `report --all-tenants --telegram`: sent / failed, no client's data

Every problem is reported as ``tenants file <path>: tenant <id>: <key>: <what>``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from botwatch import semconv

# The gateway's tenant id rule (botwatch.gateway.gateway_config): a Prometheus label value and a URL-safe name.
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
LABEL_BUDGET_RANGE = (10, 100_000)
RETENTION_DAYS_RANGE = (1, 3650)
RETENTION_RANGE = (timedelta(hours=1), timedelta(days=3650))
RETENTION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_DURATION = re.compile(r"^(\d{1,6})([hdw])$")
# Keys the gateway reads (botwatch.gateway.gateway_config); listed so a typo elsewhere is an error, not silence.
GATEWAY_KEYS = frozenset(
    {
        "token",
        "token_env",
        "signing_secret",
        "signing_secret_env",
        "rate",
        "burst",
        "conversation_prefix",
        "bitrix24",
    }
)
TENANT_KEYS = frozenset(
    {"id", "language", "label_budget", "retention", "retention_days", "owner", "managers", "targets"}
)
CHAT_KEYS = frozenset({"chat_id", "thread_id"})
TARGET_KEYS = frozenset({"sla_seconds", "confidence_floor", "lead_failure_share"})
TOP_LEVEL_KEYS = frozenset({"tenants", "gateway", "integrator"})


class TenantsError(ValueError):
    """The tenants file is unusable; the message names the file, the tenant and the key."""


@dataclass(frozen=True)
class Chat:
    chat_id: int
    thread_id: int | None = None


@dataclass(frozen=True)
class Targets:
    """A tenant's own thresholds; None: the stack's default (alerts/rules/tenant_targets.yml)."""

    sla_seconds: float | None = None
    confidence_floor: float | None = None
    lead_failure_share: float | None = None


@dataclass(frozen=True)
class TenantSpec:
    id: str
    owner: Chat
    managers: Chat | None = None
    language: str = DEFAULT_LANGUAGE
    targets: Targets = Targets()
    label_budget: int | None = None
    retention: timedelta | None = None  # None: the journal's own (BOTWATCH_RETENTION_DAYS)

    @property
    def retention_days(self) -> float | None:
        return None if self.retention is None else self.retention / timedelta(days=1)


@dataclass(frozen=True)
class Tenants:
    tenants: tuple[TenantSpec, ...]
    path: Path | None = None
    integrator: Chat | None = None  # [integrator] chat_id: the integrator's own chat (report --all-tenants' tally)

    def __iter__(self) -> Any:
        return iter(self.tenants)

    def __len__(self) -> int:
        return len(self.tenants)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tenants)

    def get(self, tenant_id: str) -> TenantSpec:
        """The tenant ``tenant_id``; TenantsError naming the known ones if there is none."""
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        known = ", ".join(self.ids) or "none"
        raise TenantsError(f"{self._where()}unknown tenant {tenant_id!r} (known: {known})")

    def label_budgets(self) -> dict[str, int]:
        """Tenant id -> label budget, for the tenants that set one (``botwatch.init(label_budgets=)``)."""
        return {t.id: t.label_budget for t in self.tenants if t.label_budget is not None}

    def retentions(self) -> dict[str, timedelta]:
        """Tenant id -> retention, for the tenants that set one (``JournalSettings(tenant_retention=)``)."""
        return {t.id: t.retention for t in self.tenants if t.retention is not None}

    def check_references(self, referenced: Mapping[str, str]) -> None:
        """TenantsError if a tenant id named somewhere (id -> where) is not in the file."""
        for tenant_id, where in sorted(referenced.items()):
            if tenant_id not in self.ids:
                raise TenantsError(f"{where}: unknown tenant {tenant_id!r} (not in {self._where(colon=False)})")

    def _where(self, colon: bool = True) -> str:
        name = f"tenants file {self.path}" if self.path else "tenants file"
        return f"{name}: " if colon else name


def load(path: Path) -> Tenants:
    """Read and validate a tenants file."""
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise TenantsError(f"tenants file {path}: cannot read it: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TenantsError(f"tenants file {path}: not valid TOML: {error}") from None
    return parse(document, Path(path))


def parse(document: Mapping[str, Any], path: Path | None = None) -> Tenants:
    where = f"tenants file {path}" if path else "tenants file"
    _no_unknown(document, TOP_LEVEL_KEYS, where)
    tables = document.get("tenants")
    if not isinstance(tables, list) or not tables:
        raise TenantsError(f"{where}: no [[tenants]] tables")
    tenants: list[TenantSpec] = []
    for number, table in enumerate(tables, 1):
        if not isinstance(table, Mapping):
            raise TenantsError(f"{where}: tenants entry {number} is not a table")
        tenant = _tenant(table, number, where)
        if tenant.id in (t.id for t in tenants):
            raise TenantsError(f"{where}: tenant {tenant.id}: id: listed twice")
        tenants.append(tenant)
    return Tenants(tuple(tenants), path, integrator_chat(document, path))


def integrator_chat(document: Mapping[str, Any], path: Path | None = None) -> Chat | None:
    """The optional top-level ``[integrator]`` chat_id (and thread_id); TenantsError if it is wrong."""
    where = f"tenants file {path}" if path else "tenants file"
    return _chat(document.get("integrator"), f"{where}: integrator", required=False)


def _tenant(table: Mapping[str, Any], number: int, where: str) -> TenantSpec:
    tenant_id = table.get("id")
    if not isinstance(tenant_id, str) or not TENANT_ID.match(tenant_id):
        raise TenantsError(
            f"{where}: tenants entry {number}: id: {tenant_id!r} is not a tenant id "
            "(1-32 of a-z 0-9 _ -, starting with a letter or digit)"
        )
    at = f"{where}: tenant {tenant_id}"
    _no_unknown(table, TENANT_KEYS | GATEWAY_KEYS, at)
    owner = _chat(table.get("owner"), f"{at}: owner", required=True)
    assert owner is not None
    language = table.get("language", DEFAULT_LANGUAGE)
    if language not in LANGUAGES:
        raise TenantsError(f"{at}: language: {language!r} is not one of {', '.join(LANGUAGES)}")
    return TenantSpec(
        id=tenant_id,
        owner=owner,
        managers=_chat(table.get("managers"), f"{at}: managers", required=False),
        language=str(language),
        targets=_targets(table.get("targets"), f"{at}: targets"),
        label_budget=_count(table, "label_budget", LABEL_BUDGET_RANGE, at),
        retention=_retention(table, at),
    )


def _retention(table: Mapping[str, Any], at: str) -> timedelta | None:
    """``retention = "30d"`` (h, d or w) or ``retention_days = 30``; one of them at most."""
    if "retention" in table and "retention_days" in table:
        raise TenantsError(f'{at}: retention and retention_days both set: keep one (retention = "30d")')
    days = _count(table, "retention_days", RETENTION_DAYS_RANGE, at)
    if days is not None:
        return timedelta(days=days)
    value = table.get("retention")
    if value is None:
        return None
    return parse_retention(value, f"{at}: retention")


def parse_retention(value: Any, at: str = "retention") -> timedelta:
    """A retention such as ``"36h"``, ``"30d"`` or ``"12w"``; TenantsError saying what is wrong otherwise."""
    low, high = RETENTION_RANGE
    match = _DURATION.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None:
        raise TenantsError(
            f"{at}: {value!r} is not a duration: a whole number and a unit, h (hours), d (days) or w (weeks), "
            'e.g. "30d"'
        )
    retention = int(match.group(1)) * RETENTION_UNITS[match.group(2)]
    if not low <= retention <= high:
        raise TenantsError(f"{at}: {value!r} is out of range (1h..3650d)")
    return retention


def _chat(table: Any, at: str, *, required: bool) -> Chat | None:
    if table is None:
        if required:
            raise TenantsError(f"{at}: missing: add [tenants.owner] with chat_id = <the owner's Telegram chat id>")
        return None
    if not isinstance(table, Mapping):
        raise TenantsError(f"{at}: must be a table with chat_id (and optionally thread_id)")
    _no_unknown(table, CHAT_KEYS, at)
    if "chat_id" not in table:
        raise TenantsError(f"{at}.chat_id: missing (a Telegram chat id, e.g. -1001234567890 for a group)")
    chat_id = _integer(table["chat_id"], f"{at}.chat_id", "a Telegram chat id, e.g. -1001234567890 for a group")
    if chat_id == 0:
        raise TenantsError(f"{at}.chat_id: 0 is not a Telegram chat id")
    thread = table.get("thread_id")
    thread_id = None if thread is None else _integer(thread, f"{at}.thread_id", "a forum topic id")
    if thread_id is not None and thread_id <= 0:
        raise TenantsError(f"{at}.thread_id: must be a positive topic id, got {thread_id}")
    return Chat(chat_id, thread_id)


def _integer(value: Any, at: str, what: str) -> int:
    if isinstance(value, bool):
        raise TenantsError(f"{at}: {value!r} is not {what}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value.strip()):
        return int(value)
    raise TenantsError(f"{at}: {value!r} is not {what}")


def _targets(table: Any, at: str) -> Targets:
    if table is None:
        return Targets()
    if not isinstance(table, Mapping):
        raise TenantsError(f"{at}: must be a table")
    _no_unknown(table, TARGET_KEYS, at)
    sla = _number(table, "sla_seconds", at)
    if sla is not None and sla not in semconv.TURN_DURATION_BUCKETS:
        raise TenantsError(
            f"{at}.sla_seconds: {sla:g} is not a bucket edge of {semconv.TURN_DURATION.name} "
            f"({', '.join(f'{b:g}' for b in semconv.TURN_DURATION_BUCKETS)})"
        )
    floor = _number(table, "confidence_floor", at)
    if floor is not None and (floor not in semconv.CONFIDENCE_BUCKETS or floor >= 1):
        edges = ", ".join(f"{b:g}" for b in semconv.CONFIDENCE_BUCKETS if b < 1)
        raise TenantsError(
            f"{at}.confidence_floor: {floor:g} is not a bucket edge of "
            f"{semconv.INTENT_CONFIDENCE_METRIC.name} ({edges})"
        )
    share = _number(table, "lead_failure_share", at)
    if share is not None and not 0 < share < 1:
        raise TenantsError(f"{at}.lead_failure_share: {share:g} is out of range: a share in (0, 1), e.g. 0.1")
    return Targets(sla, floor, share)


def _number(table: Mapping[str, Any], key: str, at: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TenantsError(f"{at}.{key}: {value!r} is not a number")
    return float(value)


def _count(table: Mapping[str, Any], key: str, bounds: tuple[int, int], at: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TenantsError(f"{at}: {key}: {value!r} is not a whole number")
    low, high = bounds
    if not low <= value <= high:
        raise TenantsError(f"{at}: {key}: {value} is out of range ({low}..{high})")
    return value


def _no_unknown(table: Mapping[str, Any], known: frozenset[str], at: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise TenantsError(f"{at}: unknown key{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
