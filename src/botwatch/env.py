"""Every ``BOTWATCH_*`` environment variable, in one place.

Each variable is a :class:`Var` constant below: its name, the kind of value,
the default, one line on what it means and which component reads it.  Every
read in the package goes through these constants; a bad value raises
:class:`ConfigError` naming the variable, the value and what is expected
(one rule everywhere: a typo stops the process at start-up instead of being
silently replaced by a default).  An empty value counts as unset.

The README's "Configuration" table is checked against :data:`REGISTRY`
(``tests/sdk/test_env_registry.py``); standard ``OTEL_*`` variables are read by
the OpenTelemetry SDK and are not listed here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A configuration value botwatch cannot use; the message names the variable, the value and what it wants."""


def _environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


@dataclass(frozen=True)
class Var:
    """One environment variable: ``name``, ``kind`` of value, ``default`` (as documented), meaning, reader."""

    name: str
    kind: str  # text, path, url, secret, list, bool, int, number, choice
    default: str  # as the README shows it; "" when there is none
    meaning: str
    reader: str  # the component that reads it
    choices: tuple[str, ...] = ()

    def raw(self, env: Mapping[str, str] | None = None) -> str | None:
        """The value, stripped; None when unset or empty."""
        value = _environ(env).get(self.name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def is_set(self, env: Mapping[str, str] | None = None) -> bool:
        """True when the variable has a non-empty value."""
        return self.raw(env) is not None

    def bad(self, value: str, expected: str) -> ConfigError:
        """The one error for a value this variable cannot take."""
        return ConfigError(f"{self.name}={value!r}: expected {expected}")

    def text(self, env: Mapping[str, str] | None = None, default: str | None = None) -> str | None:
        """The value as text (unstripped values are stripped), else ``default``."""
        value = self.raw(env)
        return value if value is not None else default

    def path(self, env: Mapping[str, str] | None = None, default: Path | None = None) -> Path | None:
        """The value as a path (``~`` expanded), else ``default``."""
        value = self.raw(env)
        return Path(value).expanduser() if value is not None else default

    def items(self, env: Mapping[str, str] | None = None) -> tuple[str, ...] | None:
        """A comma-separated list; None when unset."""
        value = self.raw(env)
        if value is None:
            return None
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def flag(self, env: Mapping[str, str] | None = None, default: bool = False) -> bool:
        """A yes/no value: true/false, 1/0, yes/no, on/off (any case)."""
        value = self.raw(env)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise self.bad(value, "one of true/false/1/0/yes/no/on/off")

    def integer(
        self,
        env: Mapping[str, str] | None = None,
        default: int | None = None,
        *,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        """A whole number within ``low``..``high`` (either bound optional), else ``default``."""
        value = self.raw(env)
        if value is None:
            return default
        bounds = _bounds(low, high)
        try:
            number = int(value)
        except ValueError:
            raise self.bad(value, f"a whole number{bounds}") from None
        if (low is not None and number < low) or (high is not None and number > high):
            raise self.bad(value, f"a whole number{bounds}")
        return number

    def number(self, env: Mapping[str, str] | None = None, default: float | None = None) -> float | None:
        """A number greater than 0, else ``default``."""
        value = self.raw(env)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not number > 0 or number == float("inf"):
            raise self.bad(value, "a number greater than 0")
        return number

    def choice(self, env: Mapping[str, str] | None = None, default: str | None = None) -> str | None:
        """One of ``choices`` (case-insensitive), else ``default``."""
        value = self.raw(env)
        if value is None:
            return default
        if value.lower() not in self.choices:
            raise self.bad(value, f"one of {', '.join(self.choices)}")
        return value.lower()


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of at least {low}"
    if high is not None:
        return f" of at most {high}"
    return ""


_SDK = "SDK (botwatch.init)"
_JOURNAL = "journal"
_AUDIT = "audit CLI (sessions, replay, export, audit, report, kpi)"
_GATEWAY = "gateway (botwatch gateway)"
_STACK = "stack (botwatch stack)"
_TELEGRAM = "integrations (aiogram, python-telegram-bot)"

# -- the SDK -------------------------------------------------------------------
SECRET = Var(
    "BOTWATCH_SECRET",
    "secret",
    "a random key created once in `~/.local/share/botwatch/secret`",
    "per-deployment key for trace ids and client hashes; the same on every replica, the gateway and `audit label`",
    f"{_SDK}, gateway, audit label",
)
SECRET_FILE = Var(
    "BOTWATCH_SECRET_FILE",
    "path",
    "`~/.local/share/botwatch/secret`",
    "a file holding the secret, when `BOTWATCH_SECRET` is not set",
    _SDK,
)
CAPTURE_CONTENT = Var("BOTWATCH_CAPTURE_CONTENT", "bool", "true", "`false`: no message text in telemetry at all", _SDK)
JOURNAL = Var(
    "BOTWATCH_JOURNAL",
    "path",
    "`~/.local/share/botwatch/journal.sqlite`",
    "the embedded journal file (written without an OTLP endpoint, read by every CLI command)",
    f"{_SDK}, journal, CLI, gateway, stack",
)
CHANNELS = Var(
    "BOTWATCH_CHANNELS", "list", "the known channels", "more channels allowed as metric labels (comma-separated)", _SDK
)
INTENTS = Var(
    "BOTWATCH_INTENTS",
    "list",
    "the first 50 distinct intents per tenant",
    "allow-list of intents for metric labels; anything else becomes `other`",
    _SDK,
)
MODELS = Var(
    "BOTWATCH_MODELS",
    "list",
    "the first 20 distinct models per tenant",
    "allow-list of model names for metric labels; anything else becomes `other`",
    _SDK,
)
VARIANTS = Var(
    "BOTWATCH_VARIANTS",
    "list",
    "the first 20 distinct variants per tenant",
    "allow-list of scenario variants for metric labels; anything else becomes `other`",
    _SDK,
)
TENANT = Var(
    "BOTWATCH_TENANT",
    "text",
    "",
    "the business this process records for: the `botwatch.tenant` resource attribute (or `init(tenant=…)`)",
    _SDK,
)
LABEL_BUDGET = Var(
    "BOTWATCH_LABEL_BUDGET",
    "int",
    "300",
    "label sets per metric and tenant before new ones fold into `other`",
    f"{_SDK}, gateway",
)
MAX_TENANTS = Var(
    "BOTWATCH_MAX_TENANTS",
    "int",
    "10",
    "tenants one process records for (`botwatch gateway` sets its tenant count); more share `other`",
    _SDK,
)
PROMETHEUS_PORT = Var(
    "BOTWATCH_PROMETHEUS_PORT", "int", "off", "serve `/metrics` on this port for Prometheus to scrape", _SDK
)
PROMETHEUS_HOST = Var(
    "BOTWATCH_PROMETHEUS_HOST", "text", "127.0.0.1", "the address the `/metrics` endpoint listens on", _SDK
)

# -- the journal -----------------------------------------------------------------
RETENTION_DAYS = Var(
    "BOTWATCH_RETENTION_DAYS", "number", "90", "days the journal keeps spans and log records", _JOURNAL
)
METRICS_RETENTION_DAYS = Var(
    "BOTWATCH_METRICS_RETENTION_DAYS", "number", "365", "days the journal keeps metric snapshots", _JOURNAL
)
JOURNAL_MAX_MB = Var(
    "BOTWATCH_JOURNAL_MAX_MB", "number", "1024", "size bound of the journal; the oldest content goes first", _JOURNAL
)

# -- audit and reports -----------------------------------------------------------
SOURCE = Var(
    "BOTWATCH_SOURCE",
    "choice",
    "journal",
    "where the audit commands read: the journal or the stack (Loki, Tempo, Prometheus)",
    _AUDIT,
    choices=("journal", "stack"),
)
LOKI_URL = Var("BOTWATCH_LOKI_URL", "url", "", "Loki base URL for `--source stack`", _AUDIT)
TEMPO_URL = Var("BOTWATCH_TEMPO_URL", "url", "", "Tempo base URL for `--source stack`", _AUDIT)
PROMETHEUS_URL = Var(
    "BOTWATCH_PROMETHEUS_URL", "url", "", "Prometheus base URL for `--source stack` and `botwatch kpi`", _AUDIT
)
AUDIT_SERVICE = Var("BOTWATCH_AUDIT_SERVICE", "text", "", "`--source stack`: only this bot's `service.name`", _AUDIT)
ROLE = Var(
    "BOTWATCH_ROLE",
    "choice",
    "owner",
    "`manager`: every export and report of this environment masks personal data",
    _AUDIT,
    choices=("owner", "manager"),
)
TIMEZONE = Var(
    "BOTWATCH_TIMEZONE",
    "text",
    "Europe/Moscow",
    "the business's time zone: report days, Telegram episode windows",
    f"report, {_TELEGRAM}",
)
LANG = Var(
    "BOTWATCH_LANG",
    "choice",
    "ru",
    "language of `botwatch insights` and `botwatch replay`",
    "insights, replay",
    choices=("ru", "en"),
)
TELEGRAM_TOKEN_FILE = Var(
    "BOTWATCH_TELEGRAM_TOKEN_FILE",
    "path",
    "",
    "file with the Telegram bot token for reports and alerts",
    "report, stack",
)
TELEGRAM_CHAT_ID = Var(
    "BOTWATCH_TELEGRAM_CHAT_ID", "text", "", "the Telegram chat reports and alerts go to", "report, stack"
)
TELEGRAM_API_URL = Var(
    "BOTWATCH_TELEGRAM_API_URL",
    "url",
    "https://api.telegram.org",
    "the Bot API server (a local one for tests)",
    "report, stack",
)

# -- Telegram integrations -------------------------------------------------------
NON_CLIENT_CHATS = Var(
    "BOTWATCH_NON_CLIENT_CHATS",
    "list",
    "",
    "chat ids of admins and staff (comma-separated): recorded, but not clients in `botwatch kpi`",
    _TELEGRAM,
)

# -- the webhook gateway ---------------------------------------------------------
GATEWAY_TOKEN = Var(
    "BOTWATCH_GATEWAY_TOKEN", "secret", "", "bearer token of no-code bots (one tenant, no tenants file)", _GATEWAY
)
GATEWAY_SIGNING_SECRET = Var(
    "BOTWATCH_GATEWAY_SIGNING_SECRET", "secret", "", "HMAC key of signed gateway requests", _GATEWAY
)
BITRIX24_WEBHOOK = Var(
    "BOTWATCH_BITRIX24_WEBHOOK", "url", "", "Bitrix24 incoming webhook: the gateway creates leads", _GATEWAY
)
GATEWAY_TENANTS = Var("BOTWATCH_GATEWAY_TENANTS", "path", "", "the gateway's tenants file (TOML)", _GATEWAY)
GATEWAY_REDIS_URL = Var(
    "BOTWATCH_GATEWAY_REDIS_URL", "url", "", "Redis for idempotency and episodes shared by replicas", _GATEWAY
)
GATEWAY_STATE = Var(
    "BOTWATCH_GATEWAY_STATE",
    "path",
    "`gateway-state.sqlite` beside the journal",
    "the idempotency store without Redis",
    _GATEWAY,
)
GATEWAY_HOST = Var("BOTWATCH_GATEWAY_HOST", "text", "127.0.0.1", "the address the gateway listens on", _GATEWAY)
GATEWAY_PORT = Var("BOTWATCH_GATEWAY_PORT", "int", "8080", "the port the gateway listens on", _GATEWAY)
GATEWAY_GC = Var(
    "BOTWATCH_GATEWAY_GC", "text", "tuned", "garbage collector thresholds: default, tuned or a,b,c", _GATEWAY
)
GATEWAY_CONFIG_JSON = Var(
    "BOTWATCH_GATEWAY_CONFIG_JSON",
    "text",
    "",
    "internal: the command line's options handed to the gateway's worker processes",
    _GATEWAY,
)
GRAFANA_URL = Var("BOTWATCH_GRAFANA_URL", "url", "", "Grafana base URL for links in gateway answers", _GATEWAY)

# -- the native stack ------------------------------------------------------------
STACK_DIR = Var(
    "BOTWATCH_STACK_DIR",
    "path",
    "`~/.local/share/botwatch/stack`",
    "where `botwatch stack` keeps configs, pid files, logs and `stack.json`",
    f"{_STACK}, audit",
)
TENANTS = Var("BOTWATCH_TENANTS", "path", "", "the tenants file of `stack up` and `report --all-tenants`", _STACK)
REDACTION_KEY = Var(
    "BOTWATCH_REDACTION_KEY",
    "secret",
    "a random key kept in the stack directory",
    "the collector's HMAC key for hashing phones and e-mails",
    _STACK,
)
REPO = Var(
    "BOTWATCH_REPO",
    "path",
    "the checkout botwatch runs from",
    "the checkout holding collector/, deploy/, alerts/",
    _STACK,
)
CACHE = Var("BOTWATCH_CACHE", "path", "`~/.cache/botwatch`", "downloaded and built binaries", _STACK)
OTELCOL_BIN = Var("BOTWATCH_OTELCOL_BIN", "path", "", "the collector binary to run", _STACK)
PROMETHEUS_BIN = Var("BOTWATCH_PROMETHEUS_BIN", "path", "", "the Prometheus binary to run", _STACK)
ALERTMANAGER_BIN = Var("BOTWATCH_ALERTMANAGER_BIN", "path", "", "the Alertmanager binary to run", _STACK)

REGISTRY: tuple[Var, ...] = tuple(value for value in globals().values() if isinstance(value, Var))
BY_NAME: dict[str, Var] = {var.name: var for var in REGISTRY}

STACK_STATE_FILE = "stack.json"  # in STACK_DIR: what runs (written by botwatch.stack.launcher, read by the audit)


# -- derived paths ----------------------------------------------------------------
def data_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/botwatch``, else ``~/.local/share/botwatch``."""
    base = _environ(env).get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "botwatch"


def default_journal(env: Mapping[str, str] | None = None) -> Path:
    """The per-user journal: ``$XDG_DATA_HOME/botwatch/journal.sqlite`` (``~/.local/share/...`` without it)."""
    return data_home(env) / "journal.sqlite"


def journal_path(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The journal file: ``explicit``, else ``BOTWATCH_JOURNAL``, else the per-user default (the one place)."""
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser()
    return JOURNAL.path(env) or default_journal(env)


def secret_file(env: Mapping[str, str] | None = None) -> Path:
    """``BOTWATCH_SECRET_FILE``, else the per-user key file."""
    return SECRET_FILE.path(env) or data_home(env) / "secret"


def stack_dir(env: Mapping[str, str] | None = None) -> Path:
    """``BOTWATCH_STACK_DIR``, else ``~/.local/share/botwatch/stack``."""
    return STACK_DIR.path(env) or Path.home() / ".local" / "share" / "botwatch" / "stack"


# -- the README's table ---------------------------------------------------------------
def markdown_table() -> str:
    """The README's table of ``BOTWATCH_*`` variables (``python -m botwatch.env`` prints it)."""
    lines = ["| variable | meaning | default | value | read by |", "|---|---|---|---|---|"]
    for var in REGISTRY:
        kind = f"{var.kind}: {' / '.join(var.choices)}" if var.choices else var.kind
        lines.append(f"| `{var.name}` | {var.meaning} | {var.default or '—'} | {kind} | {var.reader} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
