"""The compose collector config for tenants, rendered from collector/config.yaml and the tenants file.

collector/config.yaml stays the native stack's config, unchanged.  For compose the render adds:

* ``bearertokenauth/tenants`` on the published OTLP receiver (4317/4318): a bot logs in with
  ``Authorization: Bearer <tenant id>:<its write token>`` (the gateway's ``token_env``/``token``).
  The extension accepts exactly the listed ``<tenant>:<token>`` pairs, so the tenant part of an
  accepted header is the token's own.  A ``token_env`` token comes from the collector's environment
  (``${env:SALON1_TOKEN}``; compose: the tenants' tokens file) and is not in the rendered file; an
  inline ``token`` is written into it as is (like the tenants file it came from), so use ``token_env``.
* ``resource/tenant_from_login``: ``botwatch.tenant`` on the resource is the tenant of the login,
  whatever the bot wrote (the header is read through ``include_metadata``, the tenant extracted, the
  header's copy deleted at once); ``attributes/no_claimed_tenant`` deletes a ``botwatch.tenant`` a
  bot put on a span, log record or data point.  So a bot cannot write into another tenant's data,
  labels or alerts.
* ``otlp/internal`` (4319, OTLP/HTTP, not published): the gateway and the demo bot, compose's own
  services, which name the tenant themselves (the gateway per token).  Its pipelines keep it.

Tempo and Loki exporters are unchanged: compose points them at the tenant splitter
(``botwatch.stack.tenant_splitter``), which sets ``X-Scope-OrgID`` per tenant.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botwatch import semconv
from botwatch.stack.binaries import REPO
from botwatch.tenants import Tenants, TenantsError

BASE = REPO / "collector" / "config.yaml"
CONFIG_NAME = "collector.yaml"
AUTH = "bearertokenauth/tenants"
INTERNAL = "otlp/internal"
FROM_LOGIN = "resource/tenant_from_login"
NO_CLAIM = "attributes/no_claimed_tenant"
LOGIN = "botwatch.login"  # the Authorization header's copy, deleted in the same processor
LOGIN_TENANT = "botwatch_login_tenant"  # a regexp group name cannot hold a dot
INTERNAL_ENDPOINT = "${env:OTLP_INTERNAL_HTTP_ENDPOINT:-0.0.0.0:4319}"
MIN_TOKEN_LENGTH = 16  # the gateway's rule for a tenant token


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
                    "the tenant's bots log in to the collector with it (and the gateway checks it)"
                )
        else:
            raise TenantsError(f"{where}: token_env: missing (the variable holding the tenant's write token)")
        if len(token) < MIN_TOKEN_LENGTH or re.search(r"[\s$]", token):
            raise TenantsError(f"{where}: token: at least {MIN_TOKEN_LENGTH} characters, no space and no '$'")
        found[tenant_id] = token
    return found


def token_references(path: Path, tenants: Tenants, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """tenant id -> how the collector config names its token: ``${env:VAR}``, or the inline token.

    The token must be usable now (set, long enough): a tenant whose variable is empty would log in with
    an empty password.
    """
    document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    tables = {t.get("id"): t for t in document.get("tenants", []) if isinstance(t, Mapping)}
    tokens(path, tenants, environ)
    return {
        tenant_id: (
            tables[tenant_id]["token"]
            if isinstance(tables[tenant_id].get("token"), str)
            else f"${{env:{tables[tenant_id]['token_env']}}}"
        )
        for tenant_id in tenants.ids
    }


def render(base: dict[str, Any], references: Mapping[str, str]) -> dict[str, Any]:
    """``base`` (collector/config.yaml as a dict) with tenant logins (tenant id -> token reference)."""
    config = copy.deepcopy(base)
    config["extensions"][AUTH] = {
        "scheme": "Bearer",
        "tokens": [f"{tenant_id}:{token}" for tenant_id, token in sorted(references.items())],
    }
    otlp = config["receivers"]["otlp"]
    for protocol in otlp["protocols"].values():
        protocol["auth"] = {"authenticator": AUTH}
        protocol["include_metadata"] = True  # the Authorization header, for resource/tenant_from_login
    http = otlp["protocols"]["http"]
    config["receivers"][INTERNAL] = {
        "protocols": {"http": {"endpoint": INTERNAL_ENDPOINT, "max_request_body_size": http["max_request_body_size"]}}
    }
    tenant = semconv.TENANT
    config["processors"][FROM_LOGIN] = {
        "attributes": [
            {"key": tenant, "action": "delete"},  # whatever the bot claimed
            {"key": LOGIN, "from_context": "metadata.authorization", "action": "upsert"},
            {"key": LOGIN, "pattern": f"^Bearer (?P<{LOGIN_TENANT}>[a-z0-9][a-z0-9_-]{{0,31}}):", "action": "extract"},
            {"key": LOGIN, "action": "delete"},  # the token never leaves this processor
            {"key": tenant, "from_attribute": LOGIN_TENANT, "action": "upsert"},
            {"key": LOGIN_TENANT, "action": "delete"},
        ]
    }
    config["processors"][NO_CLAIM] = {"actions": [{"key": tenant, "action": "delete"}]}
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
