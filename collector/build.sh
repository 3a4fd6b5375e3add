#!/usr/bin/env bash
# Build botwatch's collector distribution: collector/dist/otelcol-botwatch.
#
# Installs the pinned OpenTelemetry Collector Builder (OCB) with `go install`
# into a cache outside the repository, then builds the manifest
# collector/builder-config.yaml.  The result is cached under a key made of the
# manifest and the OCB version, so a second run (or a fresh clone on the same
# machine) does no Go work at all.  Only Go is required.
#
#   collector/build.sh            build if needed
#   collector/build.sh --force    rebuild even when the cache is warm
#
# Environment: BOTWATCH_CACHE (default ~/.cache/botwatch), OCB_VERSION
# (default: OTELCOL_VERSION from deploy/versions.env), GO (default: go).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
manifest="$here/builder-config.yaml"
dist="$here/dist"
binary_name="otelcol-botwatch"
cache="${BOTWATCH_CACHE:-$HOME/.cache/botwatch}"
go_bin="${GO:-go}"
force=0
[[ "${1:-}" == "--force" ]] && force=1

started=$SECONDS
log() { printf '[build.sh %4ss] %s\n' "$((SECONDS - started))" "$*"; }
die() { printf '[build.sh] error: %s\n' "$*" >&2; exit 1; }

if [[ -z "${OCB_VERSION:-}" && -f "$repo/deploy/versions.env" ]]; then
    OCB_VERSION="$(sed -n 's/^OTELCOL_VERSION=//p' "$repo/deploy/versions.env" | tr -d '[:space:]')"
fi
OCB_VERSION="v${OCB_VERSION:-0.161.0}"
OCB_VERSION="v${OCB_VERSION#v}"

# Every component in the manifest must be the OCB release: one version for all.
if grep -E 'gomod: .*(collector|contrib)/(receiver|processor|exporter|extension)/' "$manifest" | grep -vq " $OCB_VERSION\$"; then
    die "components in $manifest are not all at $OCB_VERSION (OCB version); update one or the other"
fi

key="$( { cat "$manifest"; echo "ocb=$OCB_VERSION"; } | sha256sum | cut -c1-16)"
built="$cache/collector/$key"
stamp="$dist/.stamp"

if [[ $force == 0 && -x "$dist/$binary_name" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
    log "up to date: $dist/$binary_name (key $key)"
    exit 0
fi

install_from_cache() {
    mkdir -p "$dist"
    cp "$built/$binary_name" "$dist/$binary_name.tmp"
    mv "$dist/$binary_name.tmp" "$dist/$binary_name"
    echo "$key" > "$stamp"
    log "installed $dist/$binary_name ($("$dist/$binary_name" --version 2>/dev/null || echo '?'))"
}

if [[ $force == 0 && -x "$built/$binary_name" ]]; then
    log "cached build $key found in $built"
    install_from_cache
    exit 0
fi

command -v "$go_bin" >/dev/null || die "Go is required (https://go.dev/doc/install); not found: $go_bin"
mkdir -p "$cache/collector"

# One build at a time per cache (another shell or CI step may be building).
exec 9>"$cache/collector/.lock"
if command -v flock >/dev/null && ! flock -n 9; then
    log "another build holds $cache/collector/.lock; waiting"
    flock 9
fi
if [[ $force == 0 && -x "$built/$binary_name" ]]; then
    log "another process built $key meanwhile"
    install_from_cache
    exit 0
fi

ocb="$cache/ocb/$OCB_VERSION/builder"
if [[ ! -x "$ocb" ]]; then
    log "installing OCB $OCB_VERSION (go install go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION)"
    GOBIN="$cache/ocb/$OCB_VERSION" nice -n 10 "$go_bin" install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
fi
log "$("$ocb" version 2>&1 || echo "OCB $OCB_VERSION")"

# Build in the cache, not in the repository: the generated sources are large
# and the cached result is what a fresh clone reuses.
work="$built.tmp"
rm -rf "$work"
mkdir -p "$work"
sed "s|^\(  output_path:\).*|\1 $work/src|" "$manifest" > "$work/builder-config.yaml"

log "building $binary_name with $("$go_bin" version | cut -d' ' -f3) (cold builds take several minutes)"
set +e
nice -n 10 "$ocb" --config="$work/builder-config.yaml" 2>&1 | sed -u 's/^/    /'
status=${PIPESTATUS[0]}
set -e
[[ $status == 0 ]] || die "OCB build failed with status $status (output above)"
[[ -x "$work/src/$binary_name" ]] || die "OCB finished but $work/src/$binary_name is missing"

mv "$work/src/$binary_name" "$work/$binary_name"
rm -rf "$work/src" "$built"
mv "$work" "$built"
log "built in $((SECONDS - started))s, cached as $built"
install_from_cache
