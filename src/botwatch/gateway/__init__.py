"""The webhook gateway: events from bots built without code become traces, logs and metrics.

from botwatch.gateway import create_app, load_config
app = create_app(load_config())      # any ASGI server; `botwatch gateway` runs it with uvicorn

Under another server the connection limits (``botwatch.gateway.protocol``) and the
drain on SIGTERM (``botwatch.gateway.server``) are that server's business.
"""

from __future__ import annotations

from botwatch.gateway.app import Gateway, create_app
from botwatch.gateway.gateway_config import ConfigError, GatewayConfig, Tenant
from botwatch.gateway.gateway_config import load as load_config

__all__ = ["ConfigError", "Gateway", "GatewayConfig", "Tenant", "create_app", "load_config"]
