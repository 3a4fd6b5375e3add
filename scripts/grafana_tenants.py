#!/usr/bin/env python3
"""Grafana teams and permissions per tenant: what Grafana's provisioning files cannot do.

`botwatch stack render-tenants` provisions a folder per tenant (uid ``tenant-<id>``) with the tenant's
dashboards and data sources.  Provisioning has no teams and no permissions, so this script sets them
through Grafana's HTTP API, for every tenant of the tenants file:

* team ``<id> owner``: may view the tenant's folder (every dashboard in it, the audit too);
* team ``<id> managers``: may view only the tenant's overview and funnel dashboards, not the audit
  dashboard, which shows conversations (managers see counts, timings and intents, no client text);
* the folder loses Grafana's default "every Viewer/Editor" permissions: other tenants' people do not
  see it.  Admins (the integrator) always see everything.

It is idempotent: teams are looked up by name before being created, permissions are read and only
written when they differ, so a second run changes nothing.  Put people into the teams in Grafana
(Administration > Teams) or with ``POST /api/teams/:id/members``.

What this does not give (Grafana OSS): data-source permissions are a Grafana Enterprise feature, so a
logged-in user can still query any data source of the organization through the API; a hard wall
between tenants in Grafana is one organization per tenant (deploy/README.md, "Tenants: isolation").

    GRAFANA_TOKEN=<service account token> scripts/grafana_tenants.py tenants.toml --url http://localhost:3000
    GRAFANA_ADMIN_PASSWORD=... scripts/grafana_tenants.py tenants.toml --user admin
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botwatch.stack.tenant_grafana import dashboard_uid, folder_uid
from botwatch.tenants import Tenants, TenantsError, load

VIEW = 1
MANAGER_DASHBOARDS = ("botwatch-overview", "botwatch-funnel")


class GrafanaError(RuntimeError):
    """Grafana refused a call; the message names the call, the status and Grafana's own message."""


@dataclass
class Grafana:
    url: str
    authorization: str
    timeout: float = 15.0
    writes: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url.rstrip("/") + path,
            data=data,
            method=method,
            headers={
                "Authorization": self.authorization,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise GrafanaError(f"{method} {path}: Grafana at {self.url} is unreachable: {error}") from None
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        if status not in ok:
            message = payload.get("message") if isinstance(payload, dict) else payload
            raise GrafanaError(f"{method} {path}: {status} {message}")
        if method != "GET":
            self.writes.append(f"{method} {path}")
        return status, payload


def team_id(grafana: Grafana, name: str) -> int:
    """The team's id, creating the team when there is none by that name."""
    query = urllib.parse.urlencode({"name": name})
    _, found = grafana.call("GET", f"/api/teams/search?{query}")
    for team in found.get("teams", []):
        if team.get("name") == name:
            return int(team["id"])
    status, created = grafana.call("POST", "/api/teams", {"name": name}, ok=(200, 409))
    if status == 409:  # created by someone else between the search and now: look again
        _, found = grafana.call("GET", f"/api/teams/search?{query}")
        return int(next(t["id"] for t in found["teams"] if t["name"] == name))
    return int(created["teamId"])


def ensure_folder(grafana: Grafana, uid: str, title: str) -> None:
    """Provisioning creates the folder when Grafana loads the dashboards; create it if that has not happened yet."""
    status, _ = grafana.call("GET", f"/api/folders/{uid}", ok=(200, 404))
    if status == 404:
        grafana.call("POST", "/api/folders", {"uid": uid, "title": title}, ok=(200, 409))


def _own(items: list[dict[str, Any]]) -> set[tuple[str, Any, int]]:
    """Permissions as comparable entries, without the ones a dashboard inherits from its folder."""
    entries = set()
    for item in items:
        if item.get("inherited"):
            continue
        if item.get("teamId"):
            entries.add(("team", int(item["teamId"]), int(item["permission"])))
        elif item.get("userId"):
            entries.add(("user", int(item["userId"]), int(item["permission"])))
        elif item.get("role"):
            entries.add(("role", item["role"], int(item["permission"])))
    return entries


def set_permissions(grafana: Grafana, path: str, teams: dict[int, int]) -> bool:
    """Make the permissions at ``path`` exactly ``teams`` (team id -> level); True when something changed."""
    _, current = grafana.call("GET", path)
    wanted = {("team", team, level) for team, level in teams.items()}
    if _own(current or []) == wanted:
        return False
    grafana.call("POST", path, {"items": [{"teamId": team, "permission": level} for team, level in teams.items()]})
    return True


def apply(grafana: Grafana, tenants: Tenants) -> dict[str, int]:
    changed = {"permissions changed": 0, "permissions unchanged": 0}
    for tenant in tenants:
        owner = team_id(grafana, f"{tenant.id} owner")
        managers = team_id(grafana, f"{tenant.id} managers")
        folder = folder_uid(tenant.id)
        ensure_folder(grafana, folder, tenant.id)
        paths = {f"/api/folders/{folder}/permissions": {owner: VIEW}}
        for name in MANAGER_DASHBOARDS:
            paths[f"/api/dashboards/uid/{dashboard_uid(tenant.id, name)}/permissions"] = {managers: VIEW}
        for path, teams in paths.items():
            key = "permissions changed" if set_permissions(grafana, path, teams) else "permissions unchanged"
            changed[key] += 1
    return changed


def authorization(args: argparse.Namespace) -> str:
    token = os.environ.get(args.token_env, "")
    if token:
        return f"Bearer {token}"
    password = os.environ.get(args.password_env, "")
    if not password:
        raise SystemExit(
            f"grafana_tenants: set {args.token_env} (a service account token, role Admin) "
            f"or {args.password_env} (the password of --user {args.user})"
        )
    return "Basic " + base64.b64encode(f"{args.user}:{password}".encode()).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("tenants", type=Path, help="tenants file (TOML)")
    parser.add_argument("--url", default="http://localhost:3000", help="Grafana's URL (http://localhost:3000)")
    parser.add_argument("--user", default="admin", help="user for basic auth when no token is set (admin)")
    parser.add_argument("--token-env", default="GRAFANA_TOKEN", help="variable holding a service account token")
    parser.add_argument("--password-env", default="GRAFANA_ADMIN_PASSWORD", help="variable holding --user's password")
    args = parser.parse_args(argv)
    try:
        tenants = load(args.tenants)
    except TenantsError as error:
        print(f"grafana_tenants: {error}", file=sys.stderr)
        return 2
    grafana = Grafana(args.url, authorization(args))
    try:
        changed = apply(grafana, tenants)
    except GrafanaError as error:
        print(f"grafana_tenants: {error}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{n} {what}" for what, n in changed.items())
    print(f"grafana_tenants: {len(tenants)} tenant(s): {summary}; {len(grafana.writes)} write(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
