"""``botwatch gateway``: the webhook gateway for bots built without code."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import sys
from pathlib import Path

from botwatch import env
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, EXIT_USAGE, fail
from botwatch.extras import require

DEFAULT_SERVICE_NAME = "botwatch-gateway"
# Room for bursts of a few thousand events; past half of it the gateway holds requests
# back (gateway.export_backlog) rather than queue seconds of telemetry in memory.
QUEUE_DEFAULTS = {
    "OTEL_BSP_MAX_QUEUE_SIZE": "8192",
    "OTEL_BLRP_MAX_QUEUE_SIZE": "8192",
}
# The gateway is a long-running service of our own, so it tunes its garbage collector
# the way such Python services do: the objects of start-up are frozen out of every
# collection, and the young generation is larger.  Each event allocates hundreds of
# objects, so the default (700) meant a collection every couple of events and a full
# one, scanning the export queues, every few seconds.  BOTWATCH_GATEWAY_GC=default
# keeps Python's defaults; "a,b,c" sets other thresholds.
GC_THRESHOLDS = (20_000, 20, 50)


def tune_gc(setting: str) -> tuple[int, int, int] | None:
    """Apply BOTWATCH_GATEWAY_GC; the thresholds set, or None for Python's defaults."""
    if setting == "default":
        return None
    thresholds = GC_THRESHOLDS
    if setting not in ("", "tuned"):
        try:
            first, second, third = (int(part) for part in setting.split(","))
        except ValueError:
            raise env.GATEWAY_GC.bad(setting, "default, tuned or three integers a,b,c") from None
        thresholds = (first, second, third)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    return thresholds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help=SUMMARIES["gateway"],
        description=(
            "Serve POST /v1/events. Tenants come from --tenants (TOML) or BOTWATCH_GATEWAY_TENANTS, "
            "or one tenant from BOTWATCH_GATEWAY_TOKEN (+ BOTWATCH_GATEWAY_SIGNING_SECRET). Telemetry goes "
            "where botwatch.init() sends it (OTEL_EXPORTER_OTLP_ENDPOINT, else the journal)."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=env.GATEWAY_HOST.text(default="127.0.0.1"), help="(127.0.0.1)")
    port = env.GATEWAY_PORT.integer(default=8080, low=1, high=65535)
    parser.add_argument("--port", type=int, default=port, help="(8080)")
    parser.add_argument("--tenants", type=Path, default=None, help="tenants file (TOML)")
    parser.add_argument("--redis", default=None, help="Redis URL for idempotency across replicas")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (1)")
    parser.add_argument("--openapi", action="store_true", help="print the OpenAPI document and exit")


def run(args: argparse.Namespace) -> int:
    for module in ("starlette", "uvicorn", "pydantic", "httpx"):
        require(module, extra="gateway", feature="botwatch gateway")
    if args.redis or env.GATEWAY_REDIS_URL.is_set():
        require("redis", extra="redis", feature="botwatch gateway with Redis")
    if args.openapi:
        from botwatch.gateway.app import openapi_bytes

        sys.stdout.write(openapi_bytes().decode())
        return EXIT_OK
    from botwatch.gateway.gateway_config import ConfigError, load

    try:
        config = load(args.tenants, redis_url=args.redis)
    except ConfigError as error:
        return fail(f"gateway: {error}", EXIT_USAGE)
    if args.workers > 1 and not config.redis_url:
        return fail("gateway: --workers > 1 needs --redis (event ids must be shared by the workers)", EXIT_USAGE)
    from botwatch.gateway.server import serve

    os.environ[env.GATEWAY_CONFIG_JSON.name] = json.dumps({"tenants": str(args.tenants or ""), "redis": args.redis})
    print(f"botwatch gateway: {len(config.tenants)} tenant(s) on http://{args.host}:{args.port}", file=sys.stderr)
    # One process: the app is built here; several: each worker builds its own from the factory.
    if args.workers == 1:
        try:
            app: object = app_factory()
        except (OSError, sqlite3.Error) as error:  # the idempotency store beside the journal
            return fail(f"gateway: cannot open {config.state_path}: {error}", EXIT_USAGE)
    else:
        app = "botwatch.cli.gateway_command:app_factory"
    serve(app, host=args.host, port=args.port, workers=args.workers, limit_concurrency=config.limit_concurrency)
    return EXIT_OK  # drained: every accepted event recorded and flushed (see botwatch.gateway.server)


def app_factory() -> object:
    """Build the app in the serving process (each uvicorn worker its own telemetry)."""
    import botwatch
    from botwatch.gateway import create_app, load_config
    from botwatch.gateway.server import limit_connections

    options = json.loads(env.GATEWAY_CONFIG_JSON.text(default="{}") or "{}")
    tenants = Path(options["tenants"]) if options.get("tenants") else None
    config = load_config(tenants, redis_url=options.get("redis"))
    # A gateway takes bursts of thousands of events: queues larger than the SDK's defaults (2048),
    # unless the operator set them.
    for name, value in QUEUE_DEFAULTS.items():
        os.environ.setdefault(name, value)
    botwatch.init(
        service_name=os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
        max_tenants=len(config.tenants),
        label_budgets=config.label_budgets,  # the tenants file's label_budget per tenant
    )
    app = create_app(config, after_close=botwatch.shutdown)
    limit_connections(config)
    tune_gc(env.GATEWAY_GC.text(default="tuned") or "tuned")
    return app


def main() -> int:
    parser = argparse.ArgumentParser(prog="botwatch gateway", description="botwatch webhook gateway")
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
