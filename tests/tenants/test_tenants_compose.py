"""Compose with tenants: the render of a two-tenant file, checked by the backends' own validators, and
Loki/Tempo isolation (X-Scope-OrgID per tenant) through the tenant splitter and the real collector.

The compose file itself (mounts of deploy/tenants, schema) is tests/stack/test_compose.py, which renders
the same example file.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.binaries import REPO, cache_dir, collector_binary, missing
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from botwatch.stack import tenant_collector, tenant_grafana
from botwatch.stack.ports import free_port, free_ports
from botwatch.stack.tenant_render import render_tenants
from botwatch.stack.tenant_splitter import (
    HEADER,
    INTEGRATOR_ORG,
    Prefixes,
    Upstream,
    serve,
    split_logs,
    split_traces,
)
from botwatch.tenants import TenantsError

EXAMPLE = REPO / "deploy" / "tenants.example.toml"
TOKENS = {"SALON1_TOKEN": "salon1-write-token-0123456789", "CLINIC2_TOKEN": "clinic2-write-token-0123456789"}


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tenants") / "deploy" / "tenants"
    render_tenants(EXAMPLE, out, environ=TOKENS)
    return out


# --- the render -------------------------------------------------------------------------------------


def test_render_writes_every_file_compose_mounts(rendered: Path) -> None:
    for name in ("alertmanager.yml", "tenant_targets.yml", "collector.yaml", "loki-overrides.yaml", "tenants.toml"):
        assert (rendered / name).is_file(), name
    config = yaml.safe_load((rendered / "collector.yaml").read_text())
    # The tokens stay in the variables the tenants file names: the rendered file never holds one.
    assert config["extensions"][tenant_collector.AUTH]["tokens"] == [
        "clinic-2:${env:CLINIC2_TOKEN}",
        "salon-1:${env:SALON1_TOKEN}",
    ]
    text = "".join(p.read_text() for p in rendered.rglob("*") if p.is_file())
    assert not any(token in text for token in TOKENS.values())
    assert yaml.safe_load((rendered / "loki-overrides.yaml").read_text()) == {
        "overrides": {"salon-1": {"retention_period": "2160h"}}
    }


def test_render_refuses_a_tenant_whose_token_is_not_set(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(TenantsError, match="tenant clinic-2: token_env: set CLINIC2_TOKEN"):
        render_tenants(EXAMPLE, out, environ={"SALON1_TOKEN": TOKENS["SALON1_TOKEN"]})
    assert not out.exists(), "nothing is written when the file is unusable"


def test_cli_render_reports_a_missing_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "botwatch"), "stack", "render-tenants", str(EXAMPLE), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode != 0
    assert "token_env: set SALON1_TOKEN" in result.stderr


def test_rendered_alertmanager_config_passes_amtool(rendered: Path) -> None:
    amtool = cache_dir() / "bin" / "amtool"
    amtool = amtool if amtool.is_file() else Path(shutil.which("amtool") or "/nonexistent")
    if not amtool.is_file():
        missing(f"amtool not found: run alerts/build-alertmanager.sh ({cache_dir() / 'bin'})")
    result = subprocess.run(
        [str(amtool), "check-config", str(rendered / "alertmanager.yml")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_rules_pass_promtool(rendered: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool not found: apt-get install prometheus")
    result = subprocess.run(
        [promtool, "check", "rules", str(rendered / "tenant_targets.yml")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # salon-1: 3 targets, clinic-2: 2; the ratios at their own edges: the SLA (both) and the floor (salon-1)
    assert "SUCCESS: 7 rules found" in result.stdout, result.stdout


def _collector_with_tenants() -> Path:
    binary = collector_binary()
    components = subprocess.run([str(binary), "components"], capture_output=True, text=True, timeout=60).stdout
    if "bearertokenauth" not in components or "resource" not in components:
        missing(f"{binary} predates the tenants components: run collector/build.sh")
    return binary


def test_rendered_collector_config_validates(rendered: Path) -> None:
    binary = _collector_with_tenants()
    result = subprocess.run(
        [str(binary), "validate", f"--config={rendered / 'collector.yaml'}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **TOKENS},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_per_tenant(rendered: Path) -> None:
    grafana = rendered / "grafana"
    own = yaml.safe_load((grafana / "provisioning" / "datasources" / "tenants.yml").read_text())["datasources"]
    by_uid = {s["uid"]: s for s in own}
    assert set(by_uid) == {f"{p}-{t}" for p in ("prom", "loki", "tempo") for t in ("salon-1", "clinic-2")}
    for tenant in ("salon-1", "clinic-2"):
        for kind in ("loki", "tempo"):
            source = by_uid[f"{kind}-{tenant}"]
            assert source["jsonData"]["httpHeaderName1"] == "X-Scope-OrgID"
            assert source["secureJsonData"]["httpHeaderValue1"] == tenant
        # Links from the tenant's traces and exemplars stay inside the tenant.
        tempo = by_uid[f"tempo-{tenant}"]["jsonData"]
        assert tempo["tracesToLogsV2"]["datasourceUid"] == f"loki-{tenant}"
        prom = by_uid[f"prom-{tenant}"]["jsonData"]
        assert prom["exemplarTraceIdDestinations"][0]["datasourceUid"] == f"tempo-{tenant}"
        assert all(len(uid) <= 40 for uid in by_uid)
    stack = yaml.safe_load((grafana / "provisioning" / "datasources" / "botwatch.yml").read_text())["datasources"]
    loki = next(s for s in stack if s["uid"] == "loki")
    assert loki["secureJsonData"]["httpHeaderValue1"] == f"{INTEGRATOR_ORG}|salon-1|clinic-2"
    providers = yaml.safe_load((grafana / "provisioning" / "dashboards" / "tenants.yml").read_text())["providers"]
    assert {p["folderUid"] for p in providers} == {"tenant-salon-1", "tenant-clinic-2"}

    overview = json.loads((grafana / "dashboards" / "tenants" / "salon-1" / "botwatch-overview.json").read_text())
    text = json.dumps(overview)
    assert '"uid": "prometheus"' not in text and '"uid": "prom-salon-1"' in text
    variable = next(v for v in overview["templating"]["list"] if v["name"] == "tenant")
    assert variable["type"] == "constant" and variable["query"] == "salon-1" and variable["hide"] == 2
    assert (
        overview["uid"] == tenant_grafana.dashboard_uid("salon-1", "botwatch-overview") and len(overview["uid"]) <= 40
    )


# --- the tenant splitter ----------------------------------------------------------------------------


class Upstreams:
    """Tempo and Loki stand-ins: record (path, X-Scope-OrgID, body) and answer ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        self.status = 200
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with outer.lock:
                    outer.received.append((self.path, self.headers.get(HEADER) or "", body))
                data = b"" if outer.status == 200 else b"no org id"
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def orgs(self, path: str) -> dict[str, list[bytes]]:
        found: dict[str, list[bytes]] = {}
        with self.lock:
            for got_path, org, body in self.received:
                if got_path == path:
                    found.setdefault(org, []).append(body)
        return found


@pytest.fixture
def splitter() -> Iterator[tuple[str, Upstreams]]:
    upstream = Upstreams()
    port = free_port()
    holder: dict[str, Any] = {}
    thread = threading.Thread(
        target=serve,
        args=(port, Upstream(upstream.url, upstream.url)),
        kwargs={"host": "127.0.0.1", "ready": lambda s: holder.setdefault("server", s)},
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    while "server" not in holder and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", upstream
    holder["server"].shutdown()
    upstream.server.shutdown()


def _traces() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    salon = request.resource_spans.add()
    salon.resource.attributes.extend([kv("service.name", "salon-bot"), kv("botwatch.tenant", "salon-1")])
    scope = salon.scope_spans.add()
    for name in ("turn", "llm"):
        scope.spans.add(name=name, trace_id=b"\x01" * 16, span_id=b"\x01" * 8)
    gateway = request.resource_spans.add()
    gateway.resource.attributes.extend([kv("service.name", "botwatch-gateway")])
    scope = gateway.scope_spans.add()
    main = scope.spans.add(name="event", trace_id=b"\x02" * 16, span_id=b"\x02" * 8)
    main.attributes.extend([kv("botwatch.tenant", "clinic-2")])
    scope.spans.add(name="conversation", trace_id=b"\x02" * 16, span_id=b"\x03" * 8)  # same trace: clinic-2
    scope.spans.add(name="health", trace_id=b"\x09" * 16, span_id=b"\x04" * 8)  # no tenant anywhere
    return request


def _post(url: str, body: bytes, gzip_it: bool = False) -> tuple[int, str]:
    headers = {"Content-Type": "application/x-protobuf"}
    if gzip_it:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _span_names(bodies: list[bytes]) -> list[str]:
    names = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        names += [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    return sorted(names)


def test_split_keeps_resources_and_scopes() -> None:
    parts = split_traces(_traces())
    assert set(parts) == {"salon-1", "clinic-2", INTEGRATOR_ORG}
    clinic = parts["clinic-2"].resource_spans
    assert len(clinic) == 1 and clinic[0].resource.attributes[0].value.string_value == "botwatch-gateway"
    assert len(clinic[0].scope_spans) == 1 and len(clinic[0].scope_spans[0].spans) == 2


def test_splitter_sends_each_tenants_spans_with_its_org_id(splitter: tuple[str, Upstreams]) -> None:
    url, upstream = splitter
    status, _ = _post(f"{url}/v1/traces", _traces().SerializeToString(), gzip_it=True)
    assert status == 200
    orgs = upstream.orgs("/v1/traces")
    assert set(orgs) == {"salon-1", "clinic-2", INTEGRATOR_ORG}
    assert _span_names(orgs["salon-1"]) == ["llm", "turn"]
    assert _span_names(orgs["clinic-2"]) == ["conversation", "event"]
    assert _span_names(orgs[INTEGRATOR_ORG]) == ["health"]


def test_splitter_sends_logs_to_loki_path_by_tenant(splitter: tuple[str, Upstreams]) -> None:
    url, upstream = splitter
    request = ExportLogsServiceRequest()
    gateway = request.resource_logs.add()
    scope = gateway.scope_logs.add()
    record = scope.log_records.add(trace_id=b"\x05" * 16)
    record.attributes.extend([kv("botwatch.tenant", "salon-1")])
    scope.log_records.add(trace_id=b"\x05" * 16)  # follows its trace
    scope.log_records.add()  # no trace, no tenant
    assert _post(f"{url}/otlp/v1/logs", request.SerializeToString())[0] == 200
    orgs = upstream.orgs("/otlp/v1/logs")
    counts = {
        org: sum(len(ExportLogsServiceRequest.FromString(b).resource_logs[0].scope_logs[0].log_records) for b in bodies)
        for org, bodies in orgs.items()
    }
    assert counts == {"salon-1": 2, INTEGRATOR_ORG: 1}


def test_splitter_answers_503_while_a_backend_fails_and_400_for_garbage(splitter: tuple[str, Upstreams]) -> None:
    url, upstream = splitter
    upstream.status = 500
    status, reason = _post(f"{url}/v1/traces", _traces().SerializeToString())
    assert status == 503 and "answered 500" in reason  # the collector retries from its disk queue
    upstream.status = 200
    assert _post(f"{url}/v1/traces", b"\xff\xff\xff")[0] == 400
    assert _post(f"{url}/v2/nothing", b"")[0] == 404


# --- the real collector: a bot logs in as its tenant and cannot claim another ------------------------


def test_collector_sets_the_tenant_from_the_login(
    rendered: Path, splitter: tuple[str, Upstreams], tmp_path: Path
) -> None:
    binary = _collector_with_tenants()
    url, upstream = splitter
    grpc, http, internal, health, telemetry = free_ports(5)
    env = {
        "PATH": "/usr/bin:/bin",
        **TOKENS,
        "OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}",
        "OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http}",
        "OTLP_INTERNAL_HTTP_ENDPOINT": f"127.0.0.1:{internal}",
        "COLLECTOR_HEALTH_ENDPOINT": f"127.0.0.1:{health}",
        "COLLECTOR_TELEMETRY_HOST": "127.0.0.1",
        "COLLECTOR_TELEMETRY_PORT": str(telemetry),
        "COLLECTOR_STORAGE_DIR": str(tmp_path / "storage"),
        "TEMPO_OTLP_ENDPOINT": url,
        "LOKI_OTLP_ENDPOINT": url,
        "PROMETHEUS_REMOTE_WRITE_ENDPOINT": f"{upstream.url}/api/v1/write",
    }
    log = (tmp_path / "otelcol.log").open("w")
    process = subprocess.Popen(
        [str(binary), f"--config={rendered / 'collector.yaml'}"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{health}/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail((tmp_path / "otelcol.log").read_text()[-3000:])
        # salon-1's bot claims clinic-2 on its resource and on a span: the login wins.
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend([kv("service.name", "salon-bot"), kv("botwatch.tenant", "clinic-2")])
        span = rs.scope_spans.add().spans.add(name="sneaky", trace_id=b"\x07" * 16, span_id=b"\x07" * 8)
        span.attributes.extend([kv("botwatch.tenant", "clinic-2")])
        body = request.SerializeToString()

        def send(port: int, login: str | None) -> int:
            headers = {"Content-Type": "application/x-protobuf"}
            if login:
                headers["Authorization"] = f"Bearer {login}"
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        assert send(http, None) == 401
        assert send(http, f"salon-1:{TOKENS['CLINIC2_TOKEN']}") == 401  # another tenant's token
        assert send(http, f"clinic-2:{TOKENS['SALON1_TOKEN']}") == 401
        assert send(http, TOKENS["SALON1_TOKEN"]) == 401  # the token without its tenant
        assert send(http, f"salon-1:{TOKENS['SALON1_TOKEN']}") == 200
        assert send(internal, None) == 200  # the gateway's receiver: its own tenant attributes count
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(map(len, upstream.orgs("/v1/traces").values())) < 2:
            time.sleep(0.2)
        orgs = upstream.orgs("/v1/traces")
        assert _span_names(orgs.get("salon-1", [])) == ["sneaky"], orgs.keys()
        assert _span_names(orgs.get("clinic-2", [])) == ["sneaky"]  # only the internal copy
        for body in orgs["salon-1"]:
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                assert resource["botwatch.tenant"] == "salon-1"
                assert set(resource) == {"service.name", "botwatch.tenant"}, "the login's copy is gone"
                assert all(a.key != "botwatch.tenant" for ss in rs.scope_spans for s in ss.spans for a in s.attributes)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


# --- scripts/grafana_tenants.py against a Grafana stand-in -------------------------------------------


class FakeGrafana:
    """Grafana's team, folder and permission API shapes (HTTP API docs, Grafana 12), in memory.

    POST /api/teams answers 409 {"message": "Team name taken"} for a duplicate name; POST /api/folders
    409 for a taken uid and 400 without a title; unknown folders and dashboards 404
    {"message": "Folder not found"} / {"message": "Dashboard not found"}; no or a wrong credential 401.
    """

    def __init__(self, password: str, dashboards: set[str], folders: set[str]) -> None:
        self.teams: dict[int, str] = {}
        self.folders: dict[str, str] = {uid: uid for uid in folders}
        # Grafana's defaults on a new folder: every Viewer views, every Editor edits.
        default = [{"role": "Viewer", "permission": 1}, {"role": "Editor", "permission": 2}]
        self.permissions: dict[str, list[dict[str, Any]]] = {
            f"/api/folders/{uid}/permissions": list(default) for uid in folders
        }
        for uid in dashboards:
            self.permissions[f"/api/dashboards/uid/{uid}/permissions"] = [
                {"role": "Viewer", "permission": 1, "inherited": True}
            ]
        self.writes: list[str] = []
        self.authorization = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != outer.authorization:
                    self._reply(401, {"message": "Unauthorized"})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                path, _, query = self.path.partition("?")
                if path == "/api/teams/search":
                    name = urllib.parse.parse_qs(query).get("name", [""])[0]
                    teams = [
                        {"id": i, "orgId": 1, "name": n, "email": "", "avatarUrl": "", "memberCount": 0}
                        for i, n in outer.teams.items()
                        if n == name
                    ]
                    self._reply(200, {"totalCount": len(teams), "teams": teams, "page": 1, "perPage": 1000})
                elif path.startswith("/api/folders/") and path.endswith("/permissions"):
                    if path not in outer.permissions:
                        self._reply(404, {"message": "Folder not found"})
                    else:
                        self._reply(200, outer.permissions[path])
                elif path.startswith("/api/folders/"):
                    uid = path.removeprefix("/api/folders/")
                    if uid in outer.folders:
                        self._reply(200, {"id": 1, "uid": uid, "title": outer.folders[uid], "version": 1})
                    else:
                        self._reply(404, {"message": "Folder not found"})
                elif path.startswith("/api/dashboards/uid/") and path in outer.permissions:
                    self._reply(200, outer.permissions[path])
                else:
                    self._reply(404, {"message": "Dashboard not found"})

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                outer.writes.append(self.path)
                if self.path == "/api/teams":
                    if body.get("name") in outer.teams.values():
                        self._reply(409, {"message": "Team name taken"})
                        return
                    team = len(outer.teams) + 1
                    outer.teams[team] = body["name"]
                    self._reply(200, {"message": "Team created", "teamId": team})
                elif self.path == "/api/folders":
                    if not body.get("title"):
                        self._reply(400, {"message": "folder title cannot be empty"})
                    elif body.get("uid") in outer.folders:
                        self._reply(409, {"message": "a folder with the same uid already exists"})
                    else:
                        outer.folders[body["uid"]] = body["title"]
                        outer.permissions[f"/api/folders/{body['uid']}/permissions"] = [
                            {"role": "Viewer", "permission": 1},
                            {"role": "Editor", "permission": 2},
                        ]
                        self._reply(200, {"id": 2, "uid": body["uid"], "title": body["title"], "version": 1})
                elif self.path in outer.permissions:
                    items = body.get("items")
                    if not isinstance(items, list) or any(i.get("permission") not in (1, 2, 4) for i in items):
                        self._reply(400, {"message": "Bad request data"})
                        return
                    inherited = [i for i in outer.permissions[self.path] if i.get("inherited")]
                    outer.permissions[self.path] = inherited + [dict(i) for i in items]
                    what = "Folder" if self.path.startswith("/api/folders/") else "Dashboard"
                    self._reply(200, {"message": f"{what} permissions updated"})
                else:
                    self._reply(404, {"message": "Folder not found"})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def _grafana_script(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"),
            str(REPO / "scripts" / "grafana_tenants.py"),
            str(EXAMPLE),
            "--url",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_grafana_teams_and_permissions_are_set_once() -> None:
    dashboards = {
        tenant_grafana.dashboard_uid(t, d)
        for t in ("salon-1", "clinic-2")
        for d in ("botwatch-overview", "botwatch-funnel", "botwatch-audit")
    }
    # salon-1's folder is provisioned already; clinic-2's is not yet (Grafana still loading): the script creates it.
    grafana = FakeGrafana("admin-password", dashboards, {"tenant-salon-1"})
    try:
        first = _grafana_script(grafana.url, {"GRAFANA_ADMIN_PASSWORD": "admin-password"})
        assert first.returncode == 0, first.stderr
        assert sorted(grafana.teams.values()) == [
            "clinic-2 managers",
            "clinic-2 owner",
            "salon-1 managers",
            "salon-1 owner",
        ]
        assert "tenant-clinic-2" in grafana.folders
        ids = {name: team for team, name in grafana.teams.items()}
        # The folder: only the owner's team (Grafana's "every Viewer" default is gone).
        assert grafana.permissions["/api/folders/tenant-salon-1/permissions"] == [
            {"teamId": ids["salon-1 owner"], "permission": 1}
        ]
        overview = tenant_grafana.dashboard_uid("salon-1", "botwatch-overview")
        audit = tenant_grafana.dashboard_uid("salon-1", "botwatch-audit")
        own = [i for i in grafana.permissions[f"/api/dashboards/uid/{overview}/permissions"] if not i.get("inherited")]
        assert own == [{"teamId": ids["salon-1 managers"], "permission": 1}]
        audit_own = [
            i for i in grafana.permissions[f"/api/dashboards/uid/{audit}/permissions"] if not i.get("inherited")
        ]
        assert audit_own == [], "managers do not get the audit dashboard (conversations)"
        writes = len(grafana.writes)
        assert "6 permissions changed" in first.stdout, first.stdout
        second = _grafana_script(grafana.url, {"GRAFANA_ADMIN_PASSWORD": "admin-password"})
        assert second.returncode == 0, second.stderr
        assert len(grafana.writes) == writes, f"the second run wrote: {grafana.writes[writes:]}"
        assert "0 permissions changed, 6 permissions unchanged; 0 write(s)" in second.stdout, second.stdout
    finally:
        grafana.server.shutdown()


def test_grafana_script_reports_grafanas_own_error() -> None:
    grafana = FakeGrafana("admin-password", set(), set())
    try:
        wrong = _grafana_script(grafana.url, {"GRAFANA_ADMIN_PASSWORD": "not-it"})
        assert wrong.returncode == 1
        assert "GET /api/teams/search?name=salon-1+owner: 401 Unauthorized" in wrong.stderr, wrong.stderr
        # Dashboards not provisioned (the render was not mounted): Grafana's 404 names the dashboard call.
        missing_dashboards = _grafana_script(grafana.url, {"GRAFANA_ADMIN_PASSWORD": "admin-password"})
        assert missing_dashboards.returncode == 1
        assert "/permissions: 404 Dashboard not found" in missing_dashboards.stderr, missing_dashboards.stderr
        none = _grafana_script(grafana.url, {})
        assert none.returncode != 0 and "set GRAFANA_TOKEN" in none.stderr
    finally:
        grafana.server.shutdown()


def test_collector_labels_a_bots_metrics_with_its_login(rendered: Path, tmp_path: Path) -> None:
    """Series (and so alert routes) carry the login's tenant, whatever the bot wrote, through the real
    collector's remote write into a real Prometheus."""
    binary = _collector_with_tenants()
    from harness.binaries import prometheus_binary
    from harness.prometheus import Prometheus
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

    from botwatch.stack.collector_process import Collector, CollectorPorts

    # One allocation for every port: separately allocated free ports can coincide.
    prometheus_port, grpc, http, health, telemetry, internal = free_ports(6)
    prometheus = Prometheus(prometheus_binary(), tmp_path / "prometheus", prometheus_port, targets={}, rule_files=[])
    prometheus.start()
    collector = Collector(
        binary,
        tmp_path / "collector",
        traces_url="http://127.0.0.1:9",
        logs_url="http://127.0.0.1:9",
        remote_write_url=f"{prometheus.url}/api/v1/write",
        ports=CollectorPorts(grpc, http, health, telemetry),
        config=rendered / "collector.yaml",
        extra_env={
            **TOKENS,
            "OTLP_INTERNAL_HTTP_ENDPOINT": f"127.0.0.1:{internal}",
            "COLLECTOR_REMOTE_WRITE_FLUSH_INTERVAL": "1s",
        },
    )
    try:
        collector.start()
        request = ExportMetricsServiceRequest()
        rm = request.resource_metrics.add()
        rm.resource.attributes.extend([kv("service.name", "salon-bot"), kv("botwatch.tenant", "clinic-2")])
        metric = rm.scope_metrics.add().metrics.add(name="botwatch.tenant_probe", unit="1")
        metric.sum.is_monotonic = True
        metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        point = metric.sum.data_points.add(as_int=3, time_unix_nano=time.time_ns())
        point.attributes.extend([kv("botwatch.tenant", "clinic-2")])
        sent = urllib.request.Request(
            f"{collector.otlp_http_url}/v1/metrics",
            data=request.SerializeToString(),
            headers={
                "Content-Type": "application/x-protobuf",
                "Authorization": f"Bearer salon-1:{TOKENS['SALON1_TOKEN']}",
            },
        )
        with urllib.request.urlopen(sent, timeout=10) as response:
            assert response.status == 200
        series = prometheus.client.wait_for(
            'botwatch_tenant_probe_total{service_name="salon-bot"}', lambda result: bool(result), timeout=30
        )
        assert [s["metric"]["botwatch_tenant"] for s in series] == ["salon-1"], series
        assert "botwatch_login_tenant" not in series[0]["metric"] and "botwatch_login" not in series[0]["metric"]
    finally:
        collector.stop()
        prometheus.stop()


def test_splitter_finds_the_gateways_tenant_by_conversation_prefix(tmp_path: Path) -> None:
    """Gateway spans and records without their event's main span: the conversation id names the tenant."""
    custom = tmp_path / "tenants.toml"
    custom.write_text(
        EXAMPLE.read_text().replace('id = "clinic-2"\n', 'id = "clinic-2"\nconversation_prefix = "C2/"\n', 1)
    )
    prefixes = Prefixes.from_file(custom)
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for number, conversation in enumerate(("salon-1:a", "C2/b", "clinic-2:c", "salon-10:d", "")):
        span = scope.spans.add(name=f"s{number}", trace_id=bytes([number + 1]) * 16, span_id=b"\x01" * 8)
        if conversation:
            span.attributes.extend([kv("gen_ai.conversation.id", conversation)])
    scope.spans.add(name="root-of-C2", trace_id=bytes([2]) * 16, span_id=b"\x02" * 8)  # same trace as s1
    parts = split_traces(request, prefixes)
    names = {
        org: sorted(s.name for rs in p.resource_spans for ss in rs.scope_spans for s in ss.spans)
        for org, p in parts.items()
    }
    # clinic-2's prefix is "C2/" now: "clinic-2:c" is nobody's, nor is an unknown "salon-10:".
    assert names == {"salon-1": ["s0"], "clinic-2": ["root-of-C2", "s1"], INTEGRATOR_ORG: ["s2", "s3", "s4"]}
    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add()
    record.attributes.extend([kv("gen_ai.conversation.id", "salon-1:a")])
    assert set(split_logs(logs, prefixes)) == {"salon-1"}
    assert set(split_logs(logs)) == {INTEGRATOR_ORG}, "without the tenants file: no guessing"


def test_splitter_refuses_a_bad_tenants_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[tenants]]\nid = "x"\n')
    result = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"),
            "-m",
            "botwatch.stack.tenant_splitter",
            "--port",
            "1",
            "--tempo",
            "http://127.0.0.1:9",
            "--loki",
            "http://127.0.0.1:9",
            "--tenants",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "tenant x: owner: missing" in result.stderr, result.stderr
