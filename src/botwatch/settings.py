"""Settings: keyword arguments of ``init()`` win over environment variables, which win over defaults.

Standard ``OTEL_*`` variables are read by the OpenTelemetry SDK itself
(endpoint, headers, protocol, service name, resource attributes, sampler,
batch sizes, export intervals); the ``BOTWATCH_*`` ones are ours.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from botwatch import env as botwatch_env
from botwatch import semconv
from botwatch.private_files import private_dirs

_log = logging.getLogger("botwatch")

DATA_HOME = botwatch_env.data_home()
DEFAULT_JOURNAL = botwatch_env.default_journal()  # without BOTWATCH_JOURNAL (see botwatch.env.journal_path)
DEFAULT_SECRET_FILE = DATA_HOME / "secret"

_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


MIN_SECRET_BYTES = 16


class SecretError(ValueError):
    """The per-deployment secret is missing its minimum length; the message says how to make one."""


_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


_TENANT_RULE = "1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit"


def resolve_tenant(explicit: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """``init(tenant=)``, else ``BOTWATCH_TENANT`` (``OTEL_RESOURCE_ATTRIBUTES`` is read by the SDK)."""
    if explicit is None:
        tenant = botwatch_env.TENANT.text(environ)
        if tenant is not None and not _TENANT.match(tenant):
            raise botwatch_env.TENANT.bad(tenant, _TENANT_RULE)
        return tenant
    if not _TENANT.match(explicit):
        raise ValueError(f"tenant {explicit!r}: {_TENANT_RULE}")
    return explicit


def env_count(
    var: botwatch_env.Var, explicit: int | None, default: int, environ: Mapping[str, str] = os.environ
) -> int:
    """A positive count from a keyword argument, else the environment variable, else ``default``."""
    value = explicit if explicit is not None else var.integer(environ, default, low=1)
    assert value is not None
    if value < 1:
        raise ValueError(f"{var.name.removeprefix('BOTWATCH_').lower()} must be at least 1, not {value}")
    return value


def load_secret(explicit: str | bytes | None, environ: Mapping[str, str] = os.environ) -> bytes:
    """The per-deployment key for trace ids and client hashes.

    ``BOTWATCH_SECRET`` (or ``BOTWATCH_SECRET_FILE``) in production, so every
    process and replica derives the same ids.  Without one, a random key is
    created once in the user's data directory and shared by the processes of
    this machine.  A configured secret shorter than ``MIN_SECRET_BYTES`` (an
    empty file, a placeholder) raises SecretError: with it anyone could
    recompute every client hash.
    """
    if explicit:
        return _long_enough(explicit.encode() if isinstance(explicit, str) else explicit, None, "init(secret=...)")
    configured = botwatch_env.SECRET.text(environ)
    if configured:
        return _long_enough(configured.encode(), None)
    path = botwatch_env.secret_file(environ)
    try:
        return _long_enough(path.read_bytes().strip(), path)
    except FileNotFoundError:
        pass
    _create_key(path)
    return _long_enough(path.read_bytes().strip(), path)


def _create_key(path: Path) -> None:
    """A random key at ``path`` (0600, directories 0700), appearing whole: written aside, then linked."""
    private_dirs(path.parent)
    draft = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode())
        os.link(draft, path)
    except FileExistsError:  # another process won the race; its key is complete, use it
        return
    except OSError:  # a file system without hard links: create it exclusively instead
        with contextlib.suppress(FileExistsError), os.fdopen(os.open(path, _EXCLUSIVE, 0o600), "wb") as fh:
            fh.write(draft.read_bytes())
    finally:
        draft.unlink(missing_ok=True)
    _log.warning("botwatch: no BOTWATCH_SECRET set; created a local key in %s (set one per deployment)", path)


def _long_enough(secret: bytes, file: Path | None, given: str = botwatch_env.SECRET.name) -> bytes:
    """``secret`` if it has MIN_SECRET_BYTES (whitespace aside); SecretError saying how to make one if not."""
    size = len(secret.strip())
    if size >= MIN_SECRET_BYTES:
        return secret
    where = f"the secret file {file}" if file else given
    howto = f"openssl rand -hex 32 > {file}" if file else "export BOTWATCH_SECRET=$(openssl rand -hex 32)"
    raise SecretError(
        f"{where} is {'empty' if not size else f'only {size} bytes'}: a secret needs at least "
        f"{MIN_SECRET_BYTES} bytes, or anyone can recompute client hashes and trace ids. "
        f"Create one with `{howto}` and use the same value for every bot process and the gateway."
    )


@dataclass(frozen=True)
class Settings:
    """What one ``init()`` resolved: its arguments, else ``BOTWATCH_*`` variables (botwatch.env), else defaults.

    ``resolve(env=...)`` reads only the mapping it is given, so tests need not touch ``os.environ``.
    """

    service_name: str | None
    secret: bytes = field(repr=False)  # a repr (a log line, a debugger) must not show the key
    otlp_endpoint: str | None  # None: embedded journal
    endpoint_explicit: bool  # passed to init(), not from OTEL_EXPORTER_OTLP_ENDPOINT
    journal_path: Path
    capture_content: bool
    channels: tuple[str, ...]
    intents: tuple[str, ...] | None  # None: the first `max_intents` distinct values
    models: tuple[str, ...] | None
    variants: tuple[str, ...] | None
    prometheus_port: int | None
    prometheus_host: str
    capture_loguru: bool
    capture_logging: bool
    instrument_openai: bool
    max_text_length: int = 4096
    tenant: str | None = None  # botwatch.tenant of this process (a resource attribute)
    max_tenants: int = 10  # tenants one process records for (the gateway: its tenants); more share `other`
    label_budget: int = 300  # label sets per metric and tenant before new ones fold into `other`
    # Per tenant (the tenants file's label_budget, read by the gateway): overrides label_budget.
    label_budgets: Mapping[str, int] = field(default_factory=dict, hash=False)

    @classmethod
    def resolve(
        cls,
        *,
        service_name: str | None = None,
        secret: str | bytes | None = None,
        endpoint: str | None = None,
        journal: str | Path | None = None,
        capture_content: bool | None = None,
        channels: Iterable[str] | None = None,
        intents: Iterable[str] | None = None,
        models: Iterable[str] | None = None,
        variants: Iterable[str] | None = None,
        prometheus_port: int | None = None,
        capture_loguru: bool = True,
        capture_logging: bool = False,
        instrument_openai: bool = False,
        tenant: str | None = None,
        max_tenants: int | None = None,
        label_budget: int | None = None,
        label_budgets: Mapping[str, int] | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> Settings:
        endpoint_explicit = bool(endpoint)
        endpoint = endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None
        if prometheus_port is None:
            prometheus_port = botwatch_env.PROMETHEUS_PORT.integer(env, None, low=0, high=65535)
        if prometheus_port is not None and not 0 <= prometheus_port <= 65535:
            raise ValueError(f"prometheus_port {prometheus_port} out of range 0-65535")
        extra_channels = tuple(channels) if channels is not None else botwatch_env.CHANNELS.items(env) or ()
        return cls(
            service_name=service_name,
            otlp_endpoint=endpoint,
            endpoint_explicit=endpoint_explicit,
            journal_path=botwatch_env.journal_path(journal, env),
            capture_content=(
                capture_content if capture_content is not None else botwatch_env.CAPTURE_CONTENT.flag(env, True)
            ),
            channels=tuple(dict.fromkeys((*semconv.DEFAULT_CHANNELS, *extra_channels))),
            intents=tuple(intents) if intents is not None else botwatch_env.INTENTS.items(env),
            models=tuple(models) if models is not None else botwatch_env.MODELS.items(env),
            variants=tuple(variants) if variants is not None else botwatch_env.VARIANTS.items(env),
            prometheus_port=prometheus_port,
            prometheus_host=botwatch_env.PROMETHEUS_HOST.text(env, "127.0.0.1") or "127.0.0.1",
            capture_loguru=capture_loguru,
            capture_logging=capture_logging,
            instrument_openai=instrument_openai,
            tenant=resolve_tenant(tenant, env),
            max_tenants=env_count(botwatch_env.MAX_TENANTS, max_tenants, 10, env),
            label_budget=env_count(botwatch_env.LABEL_BUDGET, label_budget, 300, env),
            label_budgets=dict(label_budgets or {}),
            # Last: a bad variable above stops init() before a key file is created.
            secret=load_secret(secret, env),
        )
