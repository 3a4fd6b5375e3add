"""The three data sources every dashboard reads, by the uids provisioning gives them."""

from __future__ import annotations

from typing import Final

PROMETHEUS_UID: Final = "prometheus"
LOKI_UID: Final = "loki"
TEMPO_UID: Final = "tempo"

PROMETHEUS: Final = {"type": "prometheus", "uid": PROMETHEUS_UID}
LOKI: Final = {"type": "loki", "uid": LOKI_UID}
TEMPO: Final = {"type": "tempo", "uid": TEMPO_UID}
