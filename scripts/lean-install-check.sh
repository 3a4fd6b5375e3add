#!/usr/bin/env bash
# The core install runs every command: a fresh virtualenv with `pip install .`
# and no extras (versions held to requirements/dev.lock), then --help, demo,
# kpi, replay, sessions, export and report --help against a small journal;
# commands that need an extra must say which.  Prints the number of packages
# installed, exports an SDK conversation over OTLP and one into the journal
# (scripts/lean_sdk_roundtrip.py), prints the import time of botwatch.cli
# and the wall time of --help, then runs the SDK tests (tests/sdk) with no extra installed.
# Usage: scripts/lean-install-check.sh   (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.cache/lean-venv
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -c requirements/dev.lock .
BOTWATCH="$VENV/bin/botwatch"
installed=$("$VENV/bin/pip" list --disable-pip-version-check --format=freeze --exclude pip --exclude setuptools)
echo "lean install: $(wc -l <<<"$installed") packages installed by \`pip install .\` (botwatch included):" \
    $(cut -d= -f1 <<<"$installed")

# Nothing of the caller's environment: the journal and the key live in $WORK.
unset OTEL_EXPORTER_OTLP_ENDPOINT BOTWATCH_PROMETHEUS_PORT
export XDG_DATA_HOME="$WORK/data" BOTWATCH_JOURNAL="$WORK/journal.sqlite" BOTWATCH_SECRET_FILE="$WORK/secret"

step() {  # step NAME COMMAND...: run it, show the last lines on failure
    if ! "$@" >"$WORK/out" 2>&1; then
        echo "lean install: FAILED: $*" >&2
        tail -n 20 "$WORK/out" >&2
        exit 1
    fi
    echo "lean install: ok: ${*#"$VENV/bin/"}"
}
needs_extra() {  # needs_extra EXTRA COMMAND...: exits 2 naming the extra, no traceback
    local extra=$1
    shift
    local code=0
    "$@" >"$WORK/out" 2>&1 || code=$?
    if [ "$code" != 2 ] || ! grep -q "pip install 'botwatch\[$extra\]'" "$WORK/out" || grep -q Traceback "$WORK/out"; then
        echo "lean install: FAILED: $* should exit 2 naming the '$extra' extra (exit $code):" >&2
        tail -n 20 "$WORK/out" >&2
        exit 1
    fi
    echo "lean install: ok: ${*#"$VENV/bin/"} names the '$extra' extra"
}

step "$VENV/bin/python" -m botwatch.sdk_compat  # every private SDK name botwatch relies on is there
mkdir "$WORK/sdk"
if ! "$VENV/bin/python" scripts/lean_sdk_roundtrip.py "$WORK/sdk" 2>"$WORK/sdk.log"; then
    echo "lean install: FAILED: an SDK conversation over OTLP and into the journal" >&2
    tail -n 20 "$WORK/sdk.log" >&2
    exit 1
fi
step "$BOTWATCH" --help
step "$BOTWATCH" demo --conversations 12 --seed 16
step "$BOTWATCH" kpi --since 8d
step "$BOTWATCH" sessions --since 8d
conversation=$("$BOTWATCH" sessions --since 8d --json --limit 1 | "$VENV/bin/python" -c 'import json, sys; print(json.loads(sys.stdin.readline())["conversation_id"])')
step "$BOTWATCH" replay "$conversation"
step "$BOTWATCH" export --since 8d --quiet --out "$WORK/events.csv"
step "$BOTWATCH" report --help
step "$BOTWATCH" gateway --help
step "$BOTWATCH" stack --help
needs_extra report "$BOTWATCH" report --since 8d --out "$WORK/report.html"
needs_extra gateway "$BOTWATCH" gateway --port 0

# botwatch.cli's own import time (the cumulative microseconds python -X importtime reports)
"$VENV/bin/python" -X importtime -c 'import botwatch.cli' 2>"$WORK/importtime"
import_us=$(awk -F'|' '$3 ~ /^ botwatch\.cli$/ {gsub(/ /, "", $2); print $2}' "$WORK/importtime")
best=$("$VENV/bin/python" - "$BOTWATCH" <<'PY'
import subprocess, sys, time
runs = []
for _ in range(5):
    start = time.perf_counter()
    subprocess.run([sys.argv[1], "--help"], check=True, stdout=subprocess.DEVNULL)
    runs.append(time.perf_counter() - start)
print(f"{min(runs):.3f}")
PY
)
echo "lean install: import botwatch.cli $((import_us / 1000)) ms; botwatch --help ${best} s (best of 5 runs)"

# The SDK's own tests without any extra: only the test tools join the core install.  The files
# left out need an extra or a test-only reader (loguru lines, the gateway's events, the
# registry's YAML); the full run (`make test`) covers them.
"$VENV/bin/pip" install --quiet --disable-pip-version-check -c requirements/dev.lock pytest pytest-asyncio hypothesis
echo "lean install: the SDK tests (tests/sdk) with no extras installed"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/sdk \
    --ignore=tests/sdk/test_sdk_metrics_logs.py \
    --ignore=tests/sdk/test_semconv_conformance.py \
    --ignore=tests/sdk/test_semconv_registry.py
