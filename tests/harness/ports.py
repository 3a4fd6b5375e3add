"""Free TCP ports on 127.0.0.1 (botwatch.stack.ports)."""

from botwatch.stack.ports import free_port, free_ports, port_open

__all__ = ["PORT_OPTIONS", "free_port", "free_ports", "port_open"]

# The options of `botwatch stack` that choose a port (tests start stacks side by side).
PORT_OPTIONS = (
    "--otlp-grpc-port",
    "--otlp-http-port",
    "--collector-health-port",
    "--collector-telemetry-port",
    "--prometheus-port",
    "--alertmanager-port",
    "--journal-port",
)
