"""Serving the gateway with uvicorn, and draining it on SIGTERM or SIGINT.

uvicorn, after a graceful shutdown, raises the signal it caught again, so a
process stopped with SIGTERM (``docker stop``, Kubernetes) dies with 143
before anything registered with ``atexit`` runs: the accepted events still
queued in the SDK were lost.  Here both signals do the same, bounded drain:

1. stop accepting: the listening socket is closed, ``/health/ready`` says 503;
2. requests in flight get ``GRACEFUL_SECONDS`` to finish;
3. the app's lifespan shutdown records every accepted event (``Gateway.close``)
   and then flushes the exporters (``botwatch.shutdown()``: journal or OTLP);
4. the process exits 0.

If all of it takes longer than ``drain_seconds`` (a collector that does not
answer), a watchdog logs what is left and exits 1, so ``docker stop``'s grace
period (compose's ``stop_grace_period``, 40 s) is never the thing that stops it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

import uvicorn

from botwatch.gateway.gateway_config import GatewayConfig
from botwatch.gateway.protocol import ConnectionLimits, GuardedHttpToolsProtocol

_log = logging.getLogger("botwatch.gateway")

GRACEFUL_SECONDS = 5.0  # requests in flight at the signal
DRAIN_SECONDS = 30.0  # from the signal to exit, whatever happens
EXIT_DRAIN_TIMEOUT = 1


def limit_connections(config: GatewayConfig) -> None:
    """The connection limits of ``config`` for every connection this process serves."""
    GuardedHttpToolsProtocol.limits = ConnectionLimits(
        header_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
        max_header_bytes=config.max_header_bytes,
        max_header_count=config.max_header_count,
        max_connections_per_ip=config.max_connections_per_ip,
    )


def _gateway_of(app: Any) -> Any:
    """The Gateway behind uvicorn's middleware wrappers, or None."""
    for _ in range(10):
        if app is None or hasattr(app, "gateway"):
            return getattr(app, "gateway", None)
        app = getattr(app, "app", None)
    return None


class DrainingServer(uvicorn.Server):
    """A uvicorn server that drains on SIGTERM and SIGINT alike and never re-raises the signal."""

    drain_seconds = DRAIN_SECONDS

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            return  # a second signal changes nothing: the drain is bounded already
        _log.info("signal %s: draining (at most %.0f s)", signal.Signals(sig).name, self.drain_seconds)
        self.should_exit = True
        gateway = _gateway_of(getattr(self.config, "loaded_app", None))
        if gateway is not None:
            gateway.closing = True  # /health/ready answers 503 from now on
        threading.Thread(target=_watchdog, args=(self.drain_seconds,), daemon=True, name="drain-watchdog").start()


def _watchdog(seconds: float) -> None:
    time.sleep(seconds)
    _log.error("shutdown: the drain took more than %.0f s; exiting with what is left unexported", seconds)
    logging.shutdown()
    os._exit(EXIT_DRAIN_TIMEOUT)


def serve(app: Any, *, host: str, port: int, workers: int = 1, **options: Any) -> None:
    """Run the gateway: ``app`` is the app, or an import string of a factory when ``workers`` > 1."""
    config = uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=host,
        port=port,
        workers=workers,
        http=GuardedHttpToolsProtocol,
        ws="none",
        lifespan="on",
        access_log=False,  # our own lines carry no client address or path parameters
        log_level="info",
        timeout_graceful_shutdown=int(GRACEFUL_SECONDS),
        **options,
    )
    server = DrainingServer(config)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        # Each worker is uvicorn's own server: it drains and flushes (the app's lifespan does both),
        # then dies of the signal it re-raises; the supervisor itself exits 0.
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
