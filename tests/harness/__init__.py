"""Test harness: the real botwatch stack on free 127.0.0.1 ports.

Session-scoped pytest fixtures (registered from ``tests/conftest.py`` through
``pytest_plugins = ["harness.fixtures"]``) start, wait for and stop:

- ``otlp_capture``: an OTLP/HTTP server standing where Tempo and Loki stand,
  at their exact paths (``/v1/traces``, ``/otlp/v1/logs``);
- ``prometheus``: Debian's Prometheus with ``deploy/prometheus.yml`` and the
  rules in ``alerts/rules``, remote-write receiver and exemplar storage on;
- ``alertmanager``: the pinned Alertmanager with ``alerts/alertmanager.yml``;
- ``collector``: ``collector/dist/otelcol-botwatch`` with ``collector/config.yaml``,
  its environment pointing at the three above.

Loki, Tempo and Grafana are AGPL-licensed: they run only as their official
images in docker compose, never here.  Their queries are checked with the
Lezer grammars Grafana's editors use (tests/tooling/test_query_grammar.py).

A missing binary skips the test with the command that builds it; with
``CI=true`` it fails instead.  The launchers, process management, ports and
binary lookup live in the package (``botwatch.stack``, also behind
``botwatch stack up``); the modules here re-export them with test defaults.
The OTLP capture, the load generator and the fixtures are test-only.
"""

from harness.alertmanager import Alertmanager
from harness.binaries import in_ci, missing
from harness.capture import LOKI_LOGS_PATH, TEMPO_TRACES_PATH, OtlpCapture
from harness.collector import Collector
from harness.prometheus import Prometheus, PrometheusClient

__all__ = [
    "LOKI_LOGS_PATH",
    "TEMPO_TRACES_PATH",
    "Alertmanager",
    "Collector",
    "OtlpCapture",
    "Prometheus",
    "PrometheusClient",
    "in_ci",
    "missing",
]
