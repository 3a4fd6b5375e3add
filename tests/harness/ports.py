"""Free TCP ports on 127.0.0.1 (botwatch.stack.ports)."""

from botwatch.stack.ports import free_port, free_ports, port_open

__all__ = ["free_port", "free_ports", "port_open"]
