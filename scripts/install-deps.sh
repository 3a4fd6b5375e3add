#!/usr/bin/env bash
# Installs what the tests run for real: Debian's Prometheus (promtool), Redis and Chromium,
# our collector (built with OCB) and a current Alertmanager (built from the Go
# module proxy).  Every step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v chromium >/dev/null || need_apt+=(chromium)  # renders the weekly report in a test
if ((${#need_apt[@]})); then
    echo "==> apt-get install ${need_apt[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian starts the services; the tests run their own instances on free ports.
    for svc in prometheus redis-server; do $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi
[ -x collector/build.sh ] && bash collector/build.sh
[ -x alerts/build-alertmanager.sh ] && bash alerts/build-alertmanager.sh
echo "==> dependencies ready"
