"""Loki (built by scripts/build-loki.sh) with deploy/loki.yaml: botwatch.stack.loki."""

from botwatch.stack.loki import CONFIG, Loki

__all__ = ["CONFIG", "Loki"]
