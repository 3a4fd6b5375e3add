"""docker-compose.yml checked without a Docker engine.

The file must be valid against the Compose Specification (the JSON schema
vendored by the check-jsonschema package); every file it mounts or builds
must exist; every image is pinned (and equal to deploy/versions.env); every
address, port and environment variable agrees with the config it feeds
(collector -> Tempo/Loki/Prometheus, Prometheus targets, Grafana data
sources, Alertmanager); required secrets have no defaults; the backends'
configs pass their own validators where the binary is here (promtool, amtool,
the collector's `validate`).  Loki and Tempo are AGPL and never built here:
deploy/loki.yaml and deploy/tempo.yaml are checked for the settings botwatch
relies on (ports, retention, structured metadata), not by their binaries.  A missing promtool, amtool,
collector or jsonschema skips locally and fails in CI (CI=true).

Compose mounts deploy/tenants, the render of the tenants file (`botwatch stack render-tenants`).  These
tests render deploy/tenants.example.toml (two tenants) into a temporary copy of the repository's layout
and check the mounts, addresses and validators against what was rendered.
"""

from __future__ import annotations

import atexit
import configparser
import fnmatch
import functools
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from harness.binaries import cache_dir, collector_binary, missing
from harness.paths import REPO

COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
VERSIONS = REPO / "deploy" / "versions.env"
TEMPO_CONFIG = REPO / "deploy" / "tempo.yaml"
LOKI_CONFIG = REPO / "deploy" / "loki.yaml"
GRAFANA_INI = REPO / "deploy" / "grafana.ini"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus.yml"
ALERTMANAGER_CONFIG = REPO / "alerts" / "alertmanager.yml"
COLLECTOR_CONFIG = REPO / "collector" / "config.yaml"  # the native stack's; compose runs the render of it
BUILDER_CONFIG = REPO / "collector" / "builder-config.yaml"
DATASOURCES = REPO / "dashboards" / "provisioning" / "datasources" / "botwatch.yml"
DASHBOARD_PROVIDER = REPO / "dashboards" / "provisioning" / "dashboards" / "botwatch.yml"
TENANTS_EXAMPLE = REPO / "deploy" / "tenants.example.toml"
TENANTS_SOURCE = "./deploy/tenants"  # the render output compose mounts
EXAMPLE_TOKENS = {"SALON1_TOKEN": "salon1-write-token-0123456789", "CLINIC2_TOKEN": "clinic2-write-token-0123456789"}

# Required, secret, and therefore never given a default in docker-compose.yml.
SECRETS = (
    "GRAFANA_ADMIN_PASSWORD",
    "BOTWATCH_REDACTION_KEY",
    "BOTWATCH_SECRET",
    "TELEGRAM_BOT_TOKEN_FILE",
)
# Image repository -> its pin in deploy/versions.env.
IMAGE_VERSIONS = {
    "prom/prometheus": "PROMETHEUS_VERSION",
    "prom/alertmanager": "ALERTMANAGER_VERSION",
    "grafana/grafana": "GRAFANA_VERSION",
    "grafana/tempo": "TEMPO_VERSION",
    "grafana/loki": "LOKI_VERSION",
}
# Services nothing waits for and that serve nothing: no healthcheck needed.
CLIENT_ONLY = {"demo-bot"}
# Published on BOTWATCH_BIND_ADDRESS (loopback by default): no authentication of their own.
UNAUTHENTICATED = {"collector", "tempo", "loki", "prometheus", "alertmanager"}


# --- loading ---------------------------------------------------------------------------


@functools.cache
def rendered_root() -> Path:
    """A temporary copy of the repository's layout (symlinks) with deploy/tenants rendered from the example."""
    from botwatch.stack.tenant_render import render_tenants

    root = Path(tempfile.mkdtemp(prefix="botwatch-compose-"))
    atexit.register(shutil.rmtree, root, True)
    for entry in REPO.iterdir():
        if entry.name not in ("deploy", ".git", ".venv"):
            (root / entry.name).symlink_to(entry)
    (root / "deploy").mkdir()
    for entry in (REPO / "deploy").iterdir():
        if entry.name != "tenants":
            (root / "deploy" / entry.name).symlink_to(entry)
    render_tenants(TENANTS_EXAMPLE, root / "deploy" / "tenants", root / "alerts" / "alertmanager.yml", EXAMPLE_TOKENS)
    return root


def rendered() -> Path:
    return rendered_root() / "deploy" / "tenants"


def source_path(source: str) -> Path:
    """A bind mount's source on the host: deploy/tenants is the render, the rest the repository."""
    normal = posixpath.normpath(source)
    if normal == posixpath.normpath(TENANTS_SOURCE) or normal.startswith(posixpath.normpath(TENANTS_SOURCE) + "/"):
        return rendered_root() / normal
    return REPO / source


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@functools.cache
def versions() -> dict[str, str]:
    return _env_file(VERSIONS)


@functools.cache
def env_example() -> dict[str, str]:
    return _env_file(ENV_EXAMPLE)


@functools.cache
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


_COMPOSE_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        if op in (":-", ":?") and not value:
            value = None
        if value is not None:
            return value
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    return "$".join(_COMPOSE_VAR.sub(one, part) for part in text.split("$$"))


def _deep(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_deep(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _deep(v, fn) for k, v in value.items()}
    return value


def example_env() -> dict[str, str]:
    """.env.example with every empty required secret filled, as a user's .env would be."""
    env = dict(env_example())
    for name in SECRETS:
        env[name] = env.get(name) or "x" * 40
    return env


@functools.cache
def compose() -> dict[str, Any]:
    """docker-compose.yml as `docker compose` sees it with .env.example filled in."""
    env = example_env()
    return _deep(raw_compose(), lambda s: interpolate(s, env))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command(service: str) -> list[str]:
    cmd = services()[service].get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def flag(service: str, name: str) -> str | None:
    for arg in command(service):
        if arg == name:
            return ""
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def binds(service: str) -> Iterator[tuple[str, str, bool]]:
    """(source, target, read_only) of the service's bind mounts; short and long syntax."""
    for volume in services()[service].get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        else:
            source, target, read_only = volume.get("source", ""), volume["target"], bool(volume.get("read_only"))
        if source.startswith((".", "/")):
            yield source, target, read_only


def named_volumes(service: str) -> dict[str, str]:
    """target -> volume name."""
    found = {}
    for volume in services()[service].get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        if source and not source.startswith((".", "/")):
            found[target] = source
    return found


def host_path(service: str, container_path: str) -> Path | None:
    """The repository file a container path of `service` comes from, through its bind mounts."""
    container_path = posixpath.normpath(container_path)
    # The deepest mount that holds the path wins, as in the container.
    for source, target, _ in sorted(binds(service), key=lambda b: -len(b[1])):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return (source_path(source) / posixpath.relpath(container_path, target)).resolve()
    return None


def url_service(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    assert parts.hostname and parts.port, f"{url}: host and port expected"
    return parts.hostname, parts.port


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


# --- what each service listens on, according to its own config --------------------------

_COLLECTOR_VAR = re.compile(r"\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def collector_config_path() -> Path:
    """The config compose runs the collector with (--config), on the host."""
    path = host_path("collector", flag("collector", "--config") or "")
    assert path is not None and path.is_file(), f"collector: --config {flag('collector', '--config')} is not mounted"
    return path


@functools.cache
def collector_config() -> dict[str, Any]:
    return yaml.safe_load(collector_config_path().read_text())


def collector_value(value: str) -> str:
    """A collector config value with ${env:X:-default} resolved from the compose environment."""
    env = environment("collector")
    return _COLLECTOR_VAR.sub(lambda m: env.get(m["name"]) or m["default"] or "", str(value))


@functools.cache
def tempo_config() -> dict[str, Any]:
    return yaml.safe_load(TEMPO_CONFIG.read_text())


@functools.cache
def loki_config() -> dict[str, Any]:
    return yaml.safe_load(LOKI_CONFIG.read_text())


@functools.cache
def grafana_ini() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",))
    parser.read(GRAFANA_INI)
    return parser


def collector_otlp_http_port() -> int:
    protocols = collector_config()["receivers"]["otlp"]["protocols"]
    return port_of(collector_value(protocols["http"]["endpoint"]))


def tempo_otlp_http_port() -> int:
    return port_of(tempo_config()["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"])


def collector_internal_port() -> int:
    """The collector's receiver for compose's own senders (the gateway, the demo bot): no login."""
    return port_of(collector_value(collector_config()["receivers"]["otlp/internal"]["protocols"]["http"]["endpoint"]))


def splitter_port() -> int:
    return int(flag("tenant-splitter", "--port") or 0)


def listen_ports() -> dict[str, set[int]]:
    config = collector_config()
    protocols = config["receivers"]["otlp"]["protocols"]
    telemetry = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    return {
        "tenant-splitter": {splitter_port()},
        "collector": {
            collector_internal_port(),
            port_of(collector_value(protocols["grpc"]["endpoint"])),
            collector_otlp_http_port(),
            port_of(collector_value(config["extensions"]["health_check"]["endpoint"])),
            int(collector_value(telemetry["port"])),
        },
        "tempo": {tempo_config()["server"]["http_listen_port"], tempo_otlp_http_port()},
        "loki": {loki_config()["server"]["http_listen_port"]},
        "prometheus": {port_of(flag("prometheus", "--web.listen-address") or ":9090")},
        "alertmanager": {port_of(flag("alertmanager", "--web.listen-address") or ":9093")},
        "grafana": {grafana_ini().getint("server", "http_port", fallback=3000)},
        "gateway": {int(flag("gateway", "--port") or 8080)},
    }


def assert_reaches(url: str, service: str, what: str) -> None:
    host, port = url_service(url)
    assert host == service, f"{what}: {url} should name the compose service {service!r}"
    assert host in services(), f"{what}: {host} is not a compose service"
    assert port in listen_ports()[service], f"{what}: {url}: {service} listens on {sorted(listen_ports()[service])}"


# --- the Compose Specification -------------------------------------------------------------


def test_compose_matches_the_compose_specification() -> None:
    try:
        import importlib.resources

        import jsonschema

        schema_text = (
            importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
            .joinpath("compose-spec.json")
            .read_text()
        )
    except (ImportError, FileNotFoundError) as exc:
        missing(f"the Compose Specification schema needs `pip install jsonschema check-jsonschema` ({exc})")
    schema = json.loads(schema_text)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    # The raw file (variables not yet substituted) is what the schema describes.
    errors = sorted(validator_class(schema).iter_errors(raw_compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_interpolation_fails_without_the_required_secrets() -> None:
    with pytest.raises(KeyError, match="GRAFANA_ADMIN_PASSWORD"):
        _deep(
            raw_compose(),
            lambda s: interpolate(s, {k: v for k, v in example_env().items() if k != "GRAFANA_ADMIN_PASSWORD"}),
        )


# --- files ---------------------------------------------------------------------------------


def test_every_mounted_and_built_path_exists() -> None:
    for name, service in services().items():
        for source, target, _ in binds(name):
            assert source_path(source).exists(), f"{name}: mounts {source} (at {target}), which does not exist"
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            assert context.is_dir(), f"{name}: build context {build['context']} missing"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: Dockerfile missing"
    assert "telegram_bot_token" in compose()["secrets"]


def test_every_config_mount_is_read_only() -> None:
    for name in services():
        for source, target, read_only in binds(name):
            assert read_only, f"{name}: {source} -> {target} must be mounted read-only (:ro)"


def test_stateful_paths_are_on_named_volumes() -> None:
    declared = set(compose().get("volumes", {}))
    used = {v for name in services() for v in named_volumes(name).values()}
    assert used == declared, f"volumes declared {sorted(declared)} but used {sorted(used)}"
    data_dirs = {
        "collector": environment("collector")["COLLECTOR_STORAGE_DIR"],
        "prometheus": flag("prometheus", "--storage.tsdb.path"),
        "alertmanager": flag("alertmanager", "--storage.path"),
        "tempo": posixpath.dirname(tempo_config()["storage"]["trace"]["local"]["path"]),
        "loki": loki_config()["common"]["path_prefix"],
        "grafana": "/var/lib/grafana",
        "gateway": "/home/botwatch/.local/share/botwatch",  # botwatch.journal.journal_settings: the per-user data dir
    }
    for name, path in data_dirs.items():
        assert path in named_volumes(name), f"{name}: its data directory {path} is not on a named volume"
    tempo_dir = posixpath.dirname(tempo_config()["storage"]["trace"]["local"]["path"])
    for path in (
        tempo_config()["storage"]["trace"]["wal"]["path"],
        tempo_config()["metrics_generator"]["storage"]["path"],
    ):
        assert path.startswith(tempo_dir + "/"), f"tempo: {path} is outside its volume {tempo_dir}"


# --- images --------------------------------------------------------------------------------

_EXACT = re.compile(r"^v?\d+\.\d+\.\d+$")


def _split_image(image: str) -> tuple[str, str]:
    assert "@" not in image or ":" in image.split("@")[0], f"{image}: a tag is needed beside the digest"
    name, _, tag = image.split("@")[0].rpartition(":")
    assert name and "/" not in tag, f"{image}: no tag"
    return name, tag


def test_every_image_is_pinned_to_versions_env() -> None:
    pins = versions()
    used_pins = set()
    for name, service in services().items():
        assert "image" in service, f"{name}: no image"
        repository, tag = _split_image(service["image"])
        assert tag != "latest" and _EXACT.match(tag), f"{name}: {service['image']} is not pinned to x.y.z"
        if repository in IMAGE_VERSIONS:
            key = IMAGE_VERSIONS[repository]
            assert tag.lstrip("v") == pins[key], f"{name}: {service['image']} but {key}={pins[key]}"
            used_pins.add(key)
        else:
            assert "build" in service, f"{name}: {repository} is neither built here nor listed in IMAGE_VERSIONS"
    assert used_pins == set(IMAGE_VERSIONS.values())
    assert "latest" not in COMPOSE.read_text()


def _from_lines(dockerfile: Path) -> list[str]:
    return [line.split()[1] for line in dockerfile.read_text().splitlines() if line.upper().startswith("FROM ")]


def test_dockerfile_base_images_are_pinned() -> None:
    for dockerfile in (REPO / "Dockerfile", REPO / "collector" / "Dockerfile"):
        for image in _from_lines(dockerfile):
            _, tag = _split_image(image)
            assert re.match(r"^\d+\.\d+\.\d+(-[a-z0-9.]+)?$", tag), (
                f"{dockerfile.name}: {image} is not an exact version"
            )
    assert _from_lines(REPO / "Dockerfile")[0].startswith("python:3.11.")


def test_collector_is_built_with_otelcol_version() -> None:
    version = versions()["OTELCOL_VERSION"]
    collector = services()["collector"]
    assert collector["build"]["args"]["OTELCOL_VERSION"] == version
    assert collector["image"].endswith(f":{version}")
    dockerfile = (REPO / "collector" / "Dockerfile").read_text()
    assert 'go install "go.opentelemetry.io/collector/cmd/builder@v${OTELCOL_VERSION}"' in dockerfile
    components = re.findall(
        r"gomod: \S+/(?:receiver|processor|exporter|extension)/\S+ (v\S+)", BUILDER_CONFIG.read_text()
    )
    assert components and set(components) == {f"v{version}"}, f"builder-config.yaml components: {set(components)}"
    builder = yaml.safe_load(BUILDER_CONFIG.read_text())
    assert f"dist/{builder['dist']['name']}" in dockerfile, "the Dockerfile copies another binary than OCB builds"
    assert builder["dist"]["output_path"] == "./dist"


# --- Dockerfiles, buildable by construction -------------------------------------------------


def _dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent directory matches."""
    excluded = False
    parents = [str(Path(*Path(path).parts[: i + 1])) for i in range(len(Path(path).parts))]
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        globs = [pattern, pattern.removeprefix("**/")] if pattern.startswith("**/") else [pattern]
        for candidate in parents:
            names = [candidate] + ([Path(candidate).name] if pattern.startswith("**/") else [])
            if any(fnmatch.fnmatchcase(n, g) for n in names for g in globs):
                excluded = not negate
                break
    return excluded


def _copies(dockerfile: Path) -> Iterator[str]:
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD") and not any(w.startswith("--from") for w in words):
            yield from (w for w in words[1:-1] if not w.startswith("--"))


@pytest.mark.parametrize("service", ["collector", "gateway", "demo-bot"])
def test_dockerfile_copies_exist_and_pass_dockerignore(service: str) -> None:
    build = services()[service]["build"]
    context = REPO / build["context"]
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    sources = list(_copies(dockerfile))
    assert sources, f"{dockerfile}: no COPY"
    for source in sources:
        assert (context / source).exists(), f"{dockerfile}: COPY {source}: not in the build context"
        assert not _dockerignore_excludes(source), f"{dockerfile}: COPY {source} is excluded by .dockerignore"
    for private in (".env", "secrets/telegram_bot_token", ".venv/bin/python", "collector/dist/otelcol-botwatch"):
        assert _dockerignore_excludes(private), f".dockerignore lets {private} into the build context"
    assert _dockerignore_excludes("src/botwatch/__pycache__/x.pyc")


def test_python_image_installs_the_package_and_runs_its_cli() -> None:
    text = (REPO / "Dockerfile").read_text()
    install = re.search(r'pip install "\.\[([a-z0-9,]+)\]"', text)  # the core install has no server
    assert install and "gateway" in install[1].split(","), "the image must install the gateway extra"
    assert 'ENTRYPOINT ["botwatch"]' in text
    assert re.search(r"^USER (?!root)\S+", text, re.M), "the image should not run as root"
    pyproject = (REPO / "pyproject.toml").read_text()
    readme = re.search(r'^readme = "([^"]+)"', pyproject, re.M)
    assert readme and f" {readme[1]} " in text, "setuptools needs the readme named in pyproject.toml"
    assert command("gateway")[:1] == ["gateway"]
    demo = " ".join(command("demo-bot"))
    assert "botwatch demo --rate" in demo and "--faults" in demo


# --- addresses and ports ------------------------------------------------------------------


def _splitter_option(name: str) -> str:
    value = flag("tenant-splitter", name)
    assert value, f"tenant-splitter: no {name}"
    return value


def test_collector_exporters_reach_tempo_loki_and_prometheus() -> None:
    env = environment("collector")
    # Traces and logs go through the tenant splitter, which adds X-Scope-OrgID per tenant.
    assert_reaches(env["TEMPO_OTLP_ENDPOINT"], "tenant-splitter", "TEMPO_OTLP_ENDPOINT")
    assert_reaches(env["LOKI_OTLP_ENDPOINT"], "tenant-splitter", "LOKI_OTLP_ENDPOINT")
    assert_reaches(_splitter_option("--tempo"), "tempo", "tenant splitter --tempo")
    assert url_service(_splitter_option("--tempo"))[1] == tempo_otlp_http_port(), "Tempo's OTLP/HTTP receiver port"
    assert_reaches(_splitter_option("--loki"), "loki", "tenant splitter --loki")
    tenants = host_path("tenant-splitter", _splitter_option("--tenants"))
    assert tenants == (rendered() / "tenants.toml").resolve(), "the splitter reads the rendered tenants file"
    depends = services()["tenant-splitter"]["depends_on"]
    assert {name: depends[name]["condition"] for name in ("tempo", "loki")} == dict.fromkeys(
        ("tempo", "loki"), "service_healthy"
    )
    write = env["PROMETHEUS_REMOTE_WRITE_ENDPOINT"]
    assert_reaches(write, "prometheus", "PROMETHEUS_REMOTE_WRITE_ENDPOINT")
    assert urlsplit(write).path == "/api/v1/write"
    assert flag("prometheus", "--web.enable-remote-write-receiver") == ""
    # The config appends the signal paths to these bases.
    exporters = collector_config()["exporters"]
    assert collector_value(exporters["otlp_http/tempo"]["traces_endpoint"]) == env["TEMPO_OTLP_ENDPOINT"] + "/v1/traces"
    assert collector_value(exporters["otlp_http/loki"]["logs_endpoint"]) == env["LOKI_OTLP_ENDPOINT"] + "/otlp/v1/logs"


def test_collector_storage_and_redaction_key() -> None:
    env = environment("collector")
    assert env["COLLECTOR_STORAGE_DIR"] in named_volumes("collector")
    assert "${BOTWATCH_REDACTION_KEY:?" in json.dumps(raw_compose()["services"]["collector"]["environment"])


def test_bots_send_otlp_to_the_collector() -> None:
    # Compose's own senders use the internal receiver (not published); bots log in on 4317/4318.
    for name in ("gateway", "demo-bot"):
        endpoint = environment(name)["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert_reaches(endpoint, "collector", f"{name} OTEL_EXPORTER_OTLP_ENDPOINT")
        assert url_service(endpoint)[1] == collector_internal_port(), "the internal OTLP/HTTP receiver"
        assert services()[name]["depends_on"]["collector"]["condition"] == "service_healthy"
    published = {int(str(p).rsplit(":", 1)[1]) for p in services()["collector"]["ports"]}
    assert collector_internal_port() not in published, "the receiver without login must stay inside compose"
    protocols = collector_config()["receivers"]["otlp"]["protocols"]
    assert {p["auth"]["authenticator"] for p in protocols.values()} == {"bearertokenauth/tenants"}
    # The logins' tokens reach the collector and the gateway from the same file, not from the render.
    for name in ("collector", "gateway"):
        files = [f["path"] for f in raw_compose()["services"][name]["env_file"] if f.get("required")]
        assert files == ["${BOTWATCH_TENANT_TOKENS_FILE:-./secrets/tenant-tokens.env}"], name
    tokens = collector_config()["extensions"]["bearertokenauth/tenants"]["tokens"]
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_-]*:\$\{env:[A-Z0-9_]+\}", t) for t in tokens), tokens
    assert environment("gateway")["BOTWATCH_GATEWAY_TENANTS"] == "/etc/botwatch/deploy/tenants/tenants.toml"
    assert (
        host_path("gateway", environment("gateway")["BOTWATCH_GATEWAY_TENANTS"])
        == (rendered() / "tenants.toml").resolve()
    )


def test_prometheus_targets_are_compose_services() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    expected = {"otelcol": "collector", "alertmanager": "alertmanager", "prometheus": "prometheus"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(expected), "job names are fixed: dashboards and alerts use them"
    for job_name, service in expected.items():
        for static in jobs[job_name]["static_configs"]:
            for target in static["targets"]:
                if target.startswith("localhost:"):
                    assert service == "prometheus", f"{job_name}: localhost is only Prometheus itself"
                    assert port_of(target) in listen_ports()["prometheus"]
                else:
                    assert_reaches(target, service, f"scrape job {job_name}")
    telemetry_port = port_of(jobs["otelcol"]["static_configs"][0]["targets"][0])
    assert "COLLECTOR_TELEMETRY_PORT" not in environment("collector") or telemetry_port == int(
        environment("collector")["COLLECTOR_TELEMETRY_PORT"]
    )
    for manager in config["alerting"]["alertmanagers"]:
        for static in manager["static_configs"]:
            for target in static["targets"]:
                assert_reaches(target, "alertmanager", "Prometheus alerting")


def test_tempo_metrics_generator_writes_to_prometheus() -> None:
    for remote in tempo_config()["metrics_generator"]["storage"]["remote_write"]:
        assert_reaches(remote["url"], "prometheus", "Tempo metrics_generator remote_write")
        assert urlsplit(remote["url"]).path == "/api/v1/write"


def test_grafana_datasources_are_compose_services() -> None:
    sources = {s["uid"]: s for s in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    assert {"prometheus", "loki", "tempo"} <= set(sources)
    for uid in ("prometheus", "loki", "tempo"):
        assert_reaches(sources[uid]["url"], uid, f"Grafana data source {uid}")
    assert tempo_config()["server"]["http_listen_port"] == url_service(sources["tempo"]["url"])[1]
    depends = services()["grafana"]["depends_on"]
    assert {uid: depends[uid]["condition"] for uid in ("prometheus", "loki", "tempo")} == dict.fromkeys(
        ("prometheus", "loki", "tempo"), "service_healthy"
    )


def test_published_ports_are_the_ones_services_listen_on() -> None:
    raw = raw_compose()["services"]
    for name, service in services().items():
        for index, mapping in enumerate(service.get("ports", [])):
            container_port = int(str(mapping).rsplit(":", 1)[1].split("/")[0])
            assert container_port in listen_ports()[name], (
                f"{name}: publishes {container_port}, listens on {listen_ports()[name]}"
            )
            if name in UNAUTHENTICATED:
                host_ip = str(mapping).rsplit(":", 2)[0]
                assert host_ip == "127.0.0.1", f"{name}: {mapping} should be on loopback by default"
                assert str(raw[name]["ports"][index]).startswith("${BOTWATCH_BIND_ADDRESS:-127.0.0.1}:")


def test_healthchecks_probe_the_listening_port() -> None:
    for name, service in services().items():
        if name in CLIENT_ONLY:
            continue
        test = " ".join(service["healthcheck"]["test"])
        ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", test)}
        assert ports, f"{name}: healthcheck {test} probes no local port"
        assert ports <= listen_ports()[name], f"{name}: healthcheck port {ports} not in {listen_ports()[name]}"
    collector_health = port_of(collector_value(collector_config()["extensions"]["health_check"]["endpoint"]))
    assert f"127.0.0.1:{collector_health}/" in " ".join(services()["collector"]["healthcheck"]["test"])


def test_every_service_restarts_and_waits_for_healthy_dependencies() -> None:
    for name, service in services().items():
        assert service.get("restart") in ("unless-stopped", "always"), f"{name}: no restart policy"
        if name not in CLIENT_ONLY:
            assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, condition in depends.items():
            assert condition.get("condition") == "service_healthy", f"{name} -> {target}: not service_healthy"
            assert "healthcheck" in services()[target], f"{name} waits for {target}, which has no healthcheck"


# --- mounts agree with the configs that name paths ----------------------------------------------


def test_prometheus_rule_files_resolve_inside_the_container() -> None:
    config_path = flag("prometheus", "--config.file")
    assert host_path("prometheus", config_path) == PROMETHEUS_CONFIG
    rules = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["rule_files"]
    for pattern in rules:
        container_glob = posixpath.normpath(posixpath.join(posixpath.dirname(config_path), pattern))
        host_dir = host_path("prometheus", posixpath.dirname(container_glob))
        assert host_dir is not None, f"{container_glob}: not mounted into prometheus"
        assert list(host_dir.glob(posixpath.basename(container_glob))), f"{container_glob} matches no rule file"


def test_alertmanager_config_template_wrapper_and_token_resolve() -> None:
    service = services()["alertmanager"]
    config_path = flag("alertmanager", "--config.file")
    # The render: alerts/alertmanager.yml with a receiver and a route per tenant.
    assert host_path("alertmanager", config_path) == (rendered() / "alertmanager.yml").resolve()
    wrapper = service["entrypoint"][-1]
    assert host_path("alertmanager", wrapper) == REPO / "alerts" / "start-alertmanager.sh"
    config = yaml.safe_load((rendered() / "alertmanager.yml").read_text())
    assert {"tenant-salon-1", "tenant-clinic-2"} <= {r["name"] for r in config["receivers"]}
    for template in config["templates"]:
        host_dir = host_path(
            "alertmanager", posixpath.join(posixpath.dirname(config_path), posixpath.dirname(template))
        )
        assert host_dir and list(host_dir.glob(posixpath.basename(template))), f"template {template} not mounted"
    token_files = {
        telegram["bot_token_file"]
        for receiver in config["receivers"]
        for telegram in receiver.get("telegram_configs", [])
    }
    secret_paths = {f"/run/secrets/{s}" if isinstance(s, str) else s.get("target") for s in service["secrets"]}
    assert token_files and token_files <= secret_paths, f"bot_token_file {token_files} vs secrets {secret_paths}"


def test_grafana_mounts_match_its_provisioning() -> None:
    ini = grafana_ini()
    provisioning = ini.get("paths", "provisioning")
    # The render of dashboards/provisioning: the stack's data sources and folder plus one per tenant.
    assert host_path("grafana", provisioning) == (rendered() / "grafana" / "provisioning").resolve()
    providers = [
        provider
        for name in ("botwatch.yml", "tenants.yml")
        for provider in yaml.safe_load((rendered() / "grafana" / "provisioning" / "dashboards" / name).read_text())[
            "providers"
        ]
    ]
    provider_path = yaml.safe_load(DASHBOARD_PROVIDER.read_text())["providers"][0]["options"]["path"]
    assert providers[0]["options"]["path"] == provider_path
    assert host_path("grafana", provider_path) == REPO / "dashboards" / "json"
    assert list((REPO / "dashboards" / "json").glob("*.json"))
    assert {p["folderUid"] for p in providers} == {"botwatch", "tenant-salon-1", "tenant-clinic-2"}
    for provider in providers:  # every folder's dashboards are mounted where its provider looks
        folder = host_path("grafana", provider["options"]["path"])
        assert folder is not None and list(folder.glob("*.json")), f"{provider['name']}: no dashboards mounted"
    sources = {
        s["uid"]
        for name in ("botwatch.yml", "tenants.yml")
        for s in yaml.safe_load((rendered() / "grafana" / "provisioning" / "datasources" / name).read_text())[
            "datasources"
        ]
    }
    for provider in providers:  # the dashboards read data sources that are provisioned
        folder = host_path("grafana", provider["options"]["path"])
        assert folder is not None
        for dashboard in folder.glob("*.json"):
            used = set(re.findall(r'"uid": "((?:prom|loki|tempo|prometheus)[^"]*)"', dashboard.read_text()))
            assert used <= sources, f"{dashboard}: data sources {sorted(used - sources)} are not provisioned"
    home = host_path("grafana", ini.get("dashboards", "default_home_dashboard_path"))
    assert home is not None and home.is_file(), "the home dashboard is not mounted"
    assert host_path("grafana", "/etc/grafana/grafana.ini") == GRAFANA_INI


def test_grafana_is_not_anonymous() -> None:
    assert grafana_ini().getboolean("auth.anonymous", "enabled") is False
    env = environment("grafana")
    assert env.get("GF_AUTH_ANONYMOUS_ENABLED", "false").lower() == "false"
    assert raw_compose()["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD:?"
    )
    assert "admin_password" not in {key for _, section in grafana_ini().items() for key in section}


# --- secrets and variables ----------------------------------------------------------------------


def test_required_secrets_have_no_defaults() -> None:
    text = COMPOSE.read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^A-Za-z0-9_][^}]*)?\}", text)
        assert uses, f"{name} is not used"
        for use in uses:
            assert use.startswith(":?"), f"${{{name}{use}}}: a required secret takes no default"
        if name != "TELEGRAM_BOT_TOKEN_FILE":  # a path, not the token
            assert env_example()[name] == "", f".env.example must leave {name} empty"
    for secret in compose()["secrets"].values():
        assert "environment" not in secret or secret["environment"] in SECRETS


def test_env_example_documents_every_variable() -> None:
    used = {m["name"] for m in _COMPOSE_VAR.finditer(COMPOSE.read_text().replace("$$", ""))}
    documented = set(env_example())
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    assert documented <= used, f"in .env.example but unused: {sorted(documented - used)}"
    text = ENV_EXAMPLE.read_text()
    for name in documented:
        assert re.search(rf"#[^\n]*\n(?:#[^\n]*\n)*{name}=|{name}=[^\n]*\n", text)


def _mentioned_in_package(name: str) -> bool:
    return any(name in path.read_text() for path in (REPO / "src" / "botwatch").rglob("*.py"))


def test_every_environment_variable_is_read_by_its_service() -> None:
    collector_vars = {m["name"] for m in _COLLECTOR_VAR.finditer(collector_config_path().read_text())}
    for key in environment("collector"):
        assert key in collector_vars, f"collector: {key} is not used in its rendered config"
    for name, path in (("tempo", TEMPO_CONFIG), ("loki", LOKI_CONFIG)):
        assert "-config.expand-env=true" in command(name), f"{name}: the config's ${{...}} need -config.expand-env"
        for key in environment(name):
            assert "${" + key in path.read_text(), f"{name}: {key} is not used in {path.name}"
    for key in environment("grafana"):
        assert key.startswith("GF_"), f"grafana: {key}"
    for name in ("gateway", "demo-bot"):
        shell = " ".join(command(name))
        for key in environment(name):
            assert key.startswith("OTEL_") or _mentioned_in_package(key) or "${" + key + "}" in shell, (
                f"{name}: nothing reads {key}"
            )


def test_retention() -> None:
    assert flag("prometheus", "--storage.tsdb.retention.time") == "365d"
    assert flag("prometheus", "--enable-feature") == "exemplar-storage"
    setting = "${BOTWATCH_LOGS_TRACES_RETENTION:-720h}"
    assert tempo_config()["compactor"]["compaction"]["block_retention"] == setting
    assert loki_config()["limits_config"]["retention_period"] == setting
    assert loki_config()["compactor"]["retention_enabled"] is True
    assert env_example()["BOTWATCH_LOGS_TRACES_RETENTION"] == "720h"
    for name in ("tempo", "loki"):
        assert raw_compose()["services"][name]["environment"]["BOTWATCH_LOGS_TRACES_RETENTION"] == setting
    assert loki_config()["limits_config"]["allow_structured_metadata"] is True


def test_loki_and_tempo_keep_tenants_apart() -> None:
    """X-Scope-OrgID is required and honoured; per-tenant retention reaches Loki from the render."""
    assert loki_config()["auth_enabled"] is True
    assert loki_config()["querier"]["multi_tenant_queries_enabled"] is True  # the integrator's "a|b" data source
    assert tempo_config()["multitenancy_enabled"] is True
    overrides = host_path("loki", loki_config()["runtime_config"]["file"])
    assert overrides == (rendered() / "loki-overrides.yaml").resolve() and overrides.is_file()
    assert yaml.safe_load(overrides.read_text())["overrides"]["salon-1"]["retention_period"] == "2160h"


# --- the backends' own validators ---------------------------------------------------------------


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, env=env, check=False)


def _binary(override: str, *candidates: str | Path | None) -> Path | None:
    if os.environ.get(override):
        candidates = (os.environ[override],)
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def test_promtool_check_config_as_mounted(tmp_path: Path) -> None:
    promtool = _binary("BOTWATCH_PROMTOOL_BIN", shutil.which("promtool"))
    if promtool is None:
        missing("promtool not found: apt-get install prometheus (or set BOTWATCH_PROMTOOL_BIN)")
    # Lay the files out as the container sees them, so the relative rule path is checked too.
    root = tmp_path / "root"
    for source, target, _ in binds("prometheus"):
        place = root / target.lstrip("/")
        place.parent.mkdir(parents=True, exist_ok=True)
        place.symlink_to(source_path(source).resolve())
    config = root / flag("prometheus", "--config.file").lstrip("/")
    result = _run(promtool, "check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = len(list((REPO / "alerts" / "rules").glob("*.yml"))) + 1  # + the tenants' targets
    assert f"SUCCESS: {rule_files} rule files found" in result.stdout, result.stdout
    # 5 targets of the example's two tenants + their 2 ratios at their own edges (botwatch-tenant-buckets)
    assert "deploy/tenants/tenant_targets.yml\n  SUCCESS: 7 rules found" in result.stdout, result.stdout


def test_amtool_check_config() -> None:
    amtool = _binary("BOTWATCH_AMTOOL_BIN", cache_dir() / "bin" / "amtool", shutil.which("amtool"))
    if amtool is None:
        missing(f"{cache_dir() / 'bin' / 'amtool'} not found: run alerts/build-alertmanager.sh")
    # The repository's config and compose's (its render with two tenants), whose templates resolve as mounted.
    for config in (ALERTMANAGER_CONFIG, host_path("alertmanager", flag("alertmanager", "--config.file") or "")):
        result = _run(amtool, "check-config", config)
        assert result.returncode == 0, result.stdout + result.stderr


def test_collector_validates_with_the_compose_environment() -> None:
    binary = collector_binary()
    env = {**os.environ, **environment("collector")}
    components = _run(binary, "components").stdout
    if "bearertokenauth" not in components:
        missing(f"{binary} predates the tenants components (bearertokenauth): run collector/build.sh")
    env.update(EXAMPLE_TOKENS)  # compose: the tenants' tokens file (env_file)
    result = _run(binary, "validate", f"--config={collector_config_path()}", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_config_when_available(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or _run(docker, "compose", "version").returncode != 0:
        pytest.skip("no `docker compose` plugin here; the schema test stands in for it")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in example_env().items()))
    token = tmp_path / "token"
    token.write_text("123:abc")
    env_file.write_text(env_file.read_text() + f"TELEGRAM_BOT_TOKEN_FILE={token}\n")
    result = _run(docker, "compose", "-f", COMPOSE, "--env-file", env_file, "config", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
