#!/usr/bin/env bash
# Installs what the tests run for real: Debian's Prometheus (promtool), Redis and Chromium,
# our collector (built with OCB), a current Alertmanager (built from the Go
# module proxy) and the npm packages of querycheck/.  Every step is skipped when its result
# is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v chromium >/dev/null || need_apt+=(chromium)  # renders the weekly report in a test
command -v npm >/dev/null || need_apt+=(nodejs npm)      # Grafana's query grammars (querycheck/)
if ((${#need_apt[@]})); then
    echo "==> apt-get install ${need_apt[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian starts the services; the tests run their own instances on free ports.
    for svc in prometheus redis-server; do $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi
# The Lezer grammars tests/tooling/test_query_grammar.py parses every query with; again only when
# package-lock.json changed since the last install.
lock_sum=$(sha256sum querycheck/package-lock.json | cut -d' ' -f1)
if [ "$(cat querycheck/node_modules/.lock.sha256 2>/dev/null)" != "$lock_sum" ]; then
    echo "==> npm ci (querycheck)"
    npm ci --prefix querycheck --no-audit --no-fund --loglevel=error
    echo "$lock_sum" >querycheck/node_modules/.lock.sha256
fi
[ -x collector/build.sh ] && bash collector/build.sh
[ -x alerts/build-alertmanager.sh ] && bash alerts/build-alertmanager.sh
echo "==> dependencies ready"
