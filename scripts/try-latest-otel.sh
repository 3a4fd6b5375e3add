#!/usr/bin/env bash
# The scheduled check for the next OpenTelemetry release (`make try-latest-otel`, weekly in CI):
# a throw-away venv with the lock's versions of everything else, then the newest release of every
# opentelemetry-* package the lock names (past pyproject's pins), then the compatibility probe
# (python -m botwatch.sdk_compat: it names each private name a release removed) and the SDK tests.
# Exit 0: raising the pins in pyproject.toml and `make lock` is safe; the versions tried are printed.
# Usage: scripts/try-latest-otel.sh   (PYTHON=python3.11 to choose the interpreter; KEEP=1 keeps the venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
LOCK=requirements/dev.lock
VENV=$(mktemp -d)/venv
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$(dirname "$VENV")"' EXIT

"$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/pip" --disable-pip-version-check --quiet "$@"; }
pip install -r "$LOCK"
pip install --no-deps -e .
mapfile -t otel < <(grep -oE '^opentelemetry-[a-z0-9-]+' "$LOCK")
# --pre: the contrib packages (instrumentation, semantic conventions, util-genai) only publish betas.
pip install --upgrade --pre "${otel[@]}"
echo "try-latest-otel: locked -> installed:"
for package in "${otel[@]}"; do
    locked=$(grep -E "^$package==" "$LOCK" | sed -E 's/^[^=]+==([^ ;]+).*/\1/')
    now=$("$VENV/bin/python" -c 'import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))' "$package")
    echo "  $package $locked -> $now$([ "$locked" = "$now" ] || echo '  (new)')"
done
"$VENV/bin/pip" check || echo "try-latest-otel: (the conflicts above are pyproject's pins, expected here)"

status=0
"$VENV/bin/python" -m botwatch.sdk_compat || status=1
"$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider \
    tests/sdk/test_sdk_compat.py tests/sdk/test_otlp_wire.py tests/sdk/test_otlp_http.py \
    tests/sdk/test_sdk_traces.py tests/sdk/test_sdk_metrics_logs.py tests/masking/test_sdk_pii.py tests/sdk/test_sdk_openai.py \
    | tee "$(dirname "$VENV")/pytest.log" || status=1
# Every package these tests import is in the lock: a skip here is an import the newest release broke
# (e.g. the OpenAI instrumentation against a newer opentelemetry-util-genai), not a missing extra.
if grep -qE '^SKIPPED|[0-9]+ skipped' "$(dirname "$VENV")/pytest.log"; then
    echo "try-latest-otel: tests were skipped on the newest OpenTelemetry (see SKIPPED above): counted as a failure" >&2
    status=1
fi
if [ "$status" = 0 ]; then
    echo "try-latest-otel: ok: the newest OpenTelemetry passes; raise the pins in pyproject.toml, then make lock"
else
    echo "try-latest-otel: FAILED on the newest OpenTelemetry: see the probe's list and the failing tests above" >&2
fi
exit "$status"
