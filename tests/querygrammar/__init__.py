"""Every query botwatch ships, checked with the Lezer grammars Grafana's editors use (querycheck/)."""
