"""The compose collector config for tenants, rendered from collector/config.yaml and the tenants file.

collector/config.yaml stays the native stack's config, unchanged.  For compose the render adds:

* ``basicauth/tenants`` on the published OTLP receiver (4317/4318): a bot logs in with its tenant id
  as the user and its write token (the gateway's ``token_env``/``token``) as the password.  The
  password file (``collector.htpasswd``) holds salted SHA-1 hashes of the tokens, never the tokens.
* ``resource/tenant_from_login``: ``botwatch.tenant`` on the resource is the login's user, whatever the
  bot wrote; ``attributes/no_claimed_tenant`` deletes a ``botwatch.tenant`` a bot put on a span, log
  record or data point.  So a bot cannot write into another tenant's data, labels or alerts.
* ``otlp/internal`` (4319, OTLP/HTTP, not published): the gateway and the demo bot, compose's own
  services, which name the tenant themselves (the gateway per token).  Its pipelines keep it.

Tempo and Loki exporters are unchanged: compose points them at the tenant splitter
(``botwatch.stack.tenant_splitter``), which sets ``X-Scope-OrgID`` per tenant.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botwatch import env, semconv
from botwatch.stack.binaries import REPO
from botwatch.tenants import Tenants, TenantsError

BASE = REPO / "collector" / "config.yaml"
CONFIG_NAME = "collector.yaml"
HTPASSWD_NAME = "collector.htpasswd"
AUTH = "basicauth/tenants"
INTERNAL = "otlp/internal"
FROM_LOGIN = "resource/tenant_from_login"
NO_CLAIM = "attributes/no_claimed_tenant"
RENDERED_DIR_ENV = env.TENANTS_DIR.name  # where compose mounts the render output in the collector
RENDERED_DIR = "/etc/botwatch/deploy/tenants"
INTERNAL_ENDPOINT = "${env:OTLP_INTERNAL_HTTP_ENDPOINT:-0.0.0.0:4319}"
MIN_TOKEN_LENGTH = 16  # the gateway's rule for a tenant token


def ssha(password: str, salt: bytes | None = None) -> str:
    """An htpasswd ``{SSHA}`` entry: base64(sha1(password + salt) + salt)."""
    salt = secrets.token_bytes(8) if salt is None else salt
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def tokens(path: Path, tenants: Tenants, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """tenant id -> its write token, from the tenants file's ``token`` or the variable named by ``token_env``."""
    environ = os.environ if environ is None else environ
    document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    tables = {t.get("id"): t for t in document.get("tenants", []) if isinstance(t, Mapping)}
    found: dict[str, str] = {}
    for tenant_id in tenants.ids:
        table = tables[tenant_id]
        where = f"tenants file {path}: tenant {tenant_id}"
        if isinstance(table.get("token"), str):
            token = table["token"]
        elif isinstance(table.get("token_env"), str):
            token = environ.get(table["token_env"], "")
            if not token:
                raise TenantsError(
                    f"{where}: token_env: set {table['token_env']} (the tenant's write token) before rendering: "
                    f"the collector's {HTPASSWD_NAME} holds its salted hash so the tenant's bots can log in"
                )
        else:
            raise TenantsError(f"{where}: token_env: missing (the variable holding the tenant's write token)")
        if len(token) < MIN_TOKEN_LENGTH or ":" in token or "\n" in token:
            raise TenantsError(f"{where}: token: at least {MIN_TOKEN_LENGTH} characters, no ':' and no line break")
        found[tenant_id] = token
    return found


def htpasswd(found: Mapping[str, str]) -> str:
    return "".join(f"{tenant_id}:{ssha(token)}\n" for tenant_id, token in sorted(found.items()))


def render(base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (collector/config.yaml as a dict) with tenant logins and the internal receiver."""
    config = copy.deepcopy(base)
    config["extensions"][AUTH] = {"htpasswd": {"file": f"${{env:{RENDERED_DIR_ENV}:-{RENDERED_DIR}}}/{HTPASSWD_NAME}"}}
    otlp = config["receivers"]["otlp"]
    for protocol in otlp["protocols"].values():
        protocol["auth"] = {"authenticator": AUTH}
    http = otlp["protocols"]["http"]
    config["receivers"][INTERNAL] = {
        "protocols": {"http": {"endpoint": INTERNAL_ENDPOINT, "max_request_body_size": http["max_request_body_size"]}}
    }
    config["processors"][FROM_LOGIN] = {
        "attributes": [{"key": semconv.TENANT, "from_context": "auth.username", "action": "upsert"}]
    }
    config["processors"][NO_CLAIM] = {"actions": [{"key": semconv.TENANT, "action": "delete"}]}
    service = config["service"]
    service["extensions"] = [*service["extensions"], AUTH]
    pipelines: dict[str, Any] = {}
    for name, pipeline in service["pipelines"].items():
        processors = list(pipeline["processors"])
        first = 1 if processors[:1] == ["memory_limiter"] else 0
        bots = {**pipeline, "processors": [*processors[:first], NO_CLAIM, FROM_LOGIN, *processors[first:]]}
        pipelines[name] = bots
        pipelines[f"{name}/internal"] = {**copy.deepcopy(pipeline), "receivers": [INTERNAL]}
    service["pipelines"] = pipelines
    return config
