"""Gateway settings: limits, the idempotency store, and the tenants with their tokens.

Tenants come from a TOML file (``--tenants`` or ``BOTWATCH_GATEWAY_TENANTS``)::

    [[tenants]]
    id = "salon-1"
    token_env = "SALON1_TOKEN"              # or token = "..."
    signing_secret_env = "SALON1_SECRET"    # or signing_secret = "..."; set -> signatures required
    rate = 200                              # events per second, per token
    burst = 1000
    label_budget = 300                      # label sets per metric for this tenant (default: BOTWATCH_LABEL_BUDGET)
    [tenants.bitrix24]
    webhook_url_env = "SALON1_BITRIX"       # https://<portal>/rest/<user>/<token>/
    create_leads = true                     # create a lead for create_lead events without crm_id

or, for one bot, from ``BOTWATCH_GATEWAY_TOKEN`` and ``BOTWATCH_GATEWAY_SIGNING_SECRET``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botwatch import env as botwatch_env

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MIN_TOKEN_LENGTH = 16


# The one configuration error (botwatch.env): a bad tenants file or a bad variable alike.
ConfigError = botwatch_env.ConfigError


@dataclass(frozen=True)
class Bitrix24Settings:
    webhook_url: str
    create_leads: bool = False
    rate: float = 2.0

    def __repr__(self) -> str:  # the URL holds the webhook's token
        return f"Bitrix24Settings(create_leads={self.create_leads})"


@dataclass(frozen=True)
class Tenant:
    id: str
    token: str = field(repr=False)
    signing_secret: bytes | None = field(default=None, repr=False)
    rate: float = 200.0  # events per second
    burst: int = 1000
    conversation_prefix: str | None = None  # None: "<id>:"
    bitrix24: Bitrix24Settings | None = None
    label_budget: int | None = None  # None: the process's (BOTWATCH_LABEL_BUDGET, 300)

    @property
    def prefix(self) -> str:
        return f"{self.id}:" if self.conversation_prefix is None else self.conversation_prefix


@dataclass(frozen=True)
class GatewayConfig:
    tenants: tuple[Tenant, ...]
    max_body_bytes: int = 1 << 20
    max_batch: int = 500
    signature_window: float = 300.0  # seconds either side of the signed timestamp
    max_future: float = 300.0  # an event may be this far ahead of the gateway's clock
    max_age: float = 7 * 86400.0
    idempotency_ttl: float = 86400.0  # how long an event_id is remembered (longer than signature_window)
    conversation_ttl: float = 90 * 86400.0  # how long "this conversation has its root" is remembered
    ids_per_tenant: int = 200_000  # event ids (and conversations) remembered per tenant, oldest forgotten first
    # Without Redis: a SQLite file that survives restarts (the CLI puts it beside the journal);
    # None keeps the ids in memory only (tests, embedding).
    state_path: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    grafana_url: str | None = None
    tempo_datasource: str = "tempo"
    max_lead_jobs: int = 1000
    # Back-pressure: while an export queue (spans, log records) is fuller than this,
    # a request waits before it records; after export_wait seconds it gets 503.
    export_backlog: float = 0.5
    export_wait: float = 5.0
    # Accepted, not yet recorded (the recorder is behind): lost if the process dies, and what a
    # saturated sender waits behind (500 is about 0.25 s of recording).
    max_pending_events: int = 500
    # Connection hygiene (botwatch.gateway.protocol) and the bounded drain at SIGTERM/SIGINT.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100
    max_connections_per_ip: int = 64  # 0: no bound (behind a reverse proxy every client has its IP)
    limit_concurrency: int = 2000  # connections and requests in all; more get 503

    def __post_init__(self) -> None:
        if not self.tenants:
            raise ConfigError("no tenants: set BOTWATCH_GATEWAY_TOKEN or give a tenants file")
        ids = [t.id for t in self.tenants]
        if len(set(ids)) != len(ids):
            raise ConfigError("tenant ids must be unique")
        if not 0 < self.export_backlog <= 1:
            raise ConfigError("export_backlog must be in (0, 1]")
        if self.max_pending_events < 1 or self.export_wait <= 0:
            raise ConfigError("max_pending_events must be at least 1 and export_wait positive")
        if self.idempotency_ttl <= self.signature_window:
            raise ConfigError("idempotency_ttl must be longer than signature_window (a replay must be a duplicate)")
        if self.ids_per_tenant < 1:
            raise ConfigError("ids_per_tenant must be at least 1")
        tokens = [t.token for t in self.tenants]
        if len(set(tokens)) != len(tokens):
            raise ConfigError("two tenants share a token")

    @property
    def label_budgets(self) -> dict[str, int]:
        """Tenant id -> its own label budget, for the tenants that set one (``botwatch.init(label_budgets=)``)."""
        return {t.id: t.label_budget for t in self.tenants if t.label_budget is not None}


def _secret(table: Mapping[str, Any], key: str, env: Mapping[str, str], where: str) -> str | None:
    if table.get(key):
        return str(table[key])
    name = table.get(f"{key}_env")
    if name:
        value = env.get(str(name))
        if not value:
            raise ConfigError(f"{where}: environment variable {name} ({key}) is not set")
        return value
    return None


def _tenant(table: Mapping[str, Any], env: Mapping[str, str]) -> Tenant:
    tenant_id = str(table.get("id", ""))
    if not _TENANT_ID.match(tenant_id):
        raise ConfigError(f"tenant id {tenant_id!r}: 1-32 of a-z 0-9 _ -, starting with a letter or digit")
    where = f"tenant {tenant_id}"
    token = _secret(table, "token", env, where)
    if not token or len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{where}: a token of at least {MIN_TOKEN_LENGTH} characters is required")
    signing = _secret(table, "signing_secret", env, where)
    bitrix = None
    if isinstance(table.get("bitrix24"), Mapping):
        b = table["bitrix24"]
        url = _secret(b, "webhook_url", env, f"{where} bitrix24")
        if not url:
            raise ConfigError(f"{where}: bitrix24 needs webhook_url or webhook_url_env")
        bitrix = Bitrix24Settings(url, bool(b.get("create_leads", False)), float(b.get("rate", 2.0)))
    prefix = table.get("conversation_prefix")
    return Tenant(
        label_budget=_label_budget(table.get("label_budget"), where),
        id=tenant_id,
        token=token,
        signing_secret=signing.encode() if signing else None,
        rate=float(table.get("rate", 200.0)),
        burst=int(table.get("burst", 1000)),
        conversation_prefix=None if prefix is None else str(prefix),
        bitrix24=bitrix,
    )


def _label_budget(value: Any, where: str) -> int | None:
    """The tenants file's ``label_budget`` (the same bounds as ``botwatch.tenants``), or None."""
    from botwatch.tenants import LABEL_BUDGET_RANGE

    if value is None:
        return None
    low, high = LABEL_BUDGET_RANGE
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: label_budget: {value!r} is not a whole number of label sets ({low}..{high})")
    if not low <= value <= high:
        raise ConfigError(f"{where}: label_budget: {value} is out of range ({low}..{high} label sets per metric)")
    return value


def default_state_path(env: Mapping[str, str] = os.environ) -> Path:
    """The idempotency store beside the journal: ``gateway-state.sqlite`` in its directory."""
    journal = botwatch_env.journal_path(None, env)
    return journal.with_name("gateway-state.sqlite")


def load(path: Path | None = None, env: Mapping[str, str] = os.environ, **overrides: Any) -> GatewayConfig:
    """The configuration from a tenants file (and its ``[gateway]`` table) or the environment."""
    path = path or botwatch_env.GATEWAY_TENANTS.path(env)
    settings: dict[str, Any] = {}
    tenants: list[Tenant] = []
    if path is not None:
        try:
            document = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        settings.update(document.get("gateway", {}))
        tenants = [_tenant(t, env) for t in document.get("tenants", [])]
    elif botwatch_env.GATEWAY_TOKEN.is_set(env):
        table: dict[str, Any] = {
            "id": "default",
            "token": botwatch_env.GATEWAY_TOKEN.text(env),
            "signing_secret": botwatch_env.GATEWAY_SIGNING_SECRET.text(env),
            "conversation_prefix": "",
        }
        if botwatch_env.BITRIX24_WEBHOOK.is_set(env):
            table["bitrix24"] = {"webhook_url": botwatch_env.BITRIX24_WEBHOOK.text(env), "create_leads": True}
        tenants = [_tenant(table, env)]
    names = (
        ("redis_url", botwatch_env.GATEWAY_REDIS_URL),
        ("grafana_url", botwatch_env.GRAFANA_URL),
        ("state_path", botwatch_env.GATEWAY_STATE),
    )
    for key, var in names:
        if var.is_set(env):
            settings.setdefault(key, var.text(env))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if not settings.get("redis_url"):
        settings.setdefault("state_path", str(default_state_path(env)))
    known = set(GatewayConfig.__dataclass_fields__) - {"tenants"}
    unknown = set(settings) - known
    if unknown:
        raise ConfigError(f"unknown gateway settings: {', '.join(sorted(unknown))}")
    return GatewayConfig(tenants=tuple(tenants), **settings)
