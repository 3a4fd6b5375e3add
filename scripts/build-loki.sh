#!/usr/bin/env bash
# Build the pinned Loki from the Go module proxy, for `botwatch stack up` and the tests.
#
# `go install github.com/grafana/loki/v3/cmd/loki@vX` refuses: Loki's go.mod has
# replace directives. So this script
#   1. downloads the module (go mod download -json) and copies its source out of
#      the read-only module cache into a writable build directory;
#   2. fills in the nested module github.com/grafana/loki/pkg/push, which the
#      module zip leaves out (it has its own go.mod) while go.mod replaces it with
#      ./pkg/push: it downloads that module at the version go.mod requires and
#      copies it to ./pkg/push;
#   3. go build -mod=mod ./cmd/loki (about 4.5 minutes on 2 cores, cold caches).
#
# Version: LOKI_VERSION= in deploy/versions.env (default below when absent).
# Result: ${BOTWATCH_CACHE:-$HOME/.cache/botwatch}/bin/loki-<version>; nothing is
# done when that binary is already there. Needs only Go (>= the go line of Loki's go.mod).
set -euo pipefail

DEFAULT_LOKI_VERSION=3.7.8

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions_file="${repo_root}/deploy/versions.env"
version=""
if [[ -f "${versions_file}" ]]; then
    version="$(sed -n 's/^LOKI_VERSION=//p' "${versions_file}" | tr -d '[:space:]"')"
fi
version="${version:-${DEFAULT_LOKI_VERSION}}"
version="${version#v}"

cache="${BOTWATCH_CACHE:-${HOME}/.cache/botwatch}"
bin_dir="${cache}/bin"
target="${bin_dir}/loki-${version}"
say() { echo "build-loki: $*"; }

if [[ -x "${target}" ]]; then
    say "${target} already built, skipping"
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    say "Go is required (https://go.dev/dl/)" >&2
    exit 1
fi

module="github.com/grafana/loki/v3"
push_module="github.com/grafana/loki/pkg/push"
work="${cache}/build/loki-${version}"
src="${work}/src"
started=$(date +%s)
elapsed() { echo "$(( $(date +%s) - started ))s"; }

# The "Dir" field of `go mod download -json` output.
module_dir() {
    go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

say "[1/4] downloading ${module}@v${version}"
module_src="$(module_dir "${module}@v${version}")"
if [[ -z "${module_src}" || ! -f "${module_src}/go.mod" ]]; then
    say "go mod download gave no source directory for ${module}@v${version}" >&2
    exit 1
fi

say "[2/4] copying the source to ${src} ($(elapsed))"
rm -rf "${work}"
mkdir -p "${work}"
cp -R "${module_src}" "${src}"
chmod -R u+w "${src}"

push_version="$(sed -n "s|^[[:space:]]*${push_module} \(v[^ ]*\).*|\1|p" "${src}/go.mod" | head -n1)"
if [[ -z "${push_version}" ]]; then
    say "no requirement on ${push_module} in go.mod; cannot fill ./pkg/push" >&2
    exit 1
fi
say "[3/4] adding the nested module ${push_module}@${push_version} as ./pkg/push ($(elapsed))"
push_src="$(module_dir "${push_module}@${push_version}")"
rm -rf "${src}/pkg/push"
cp -R "${push_src}" "${src}/pkg/push"
chmod -R u+w "${src}/pkg/push"
(cd "${src}" && go mod edit -replace "${push_module}=./pkg/push")

say "[4/4] go build -mod=mod ./cmd/loki with $(go version | cut -d' ' -f3) (minutes; progress: go's own lines) ($(elapsed))"
build_pkg="${module}/pkg/util/build"
ldflags="-s -w -X ${build_pkg}.Version=${version} -X ${build_pkg}.Branch=release"
ldflags+=" -X ${build_pkg}.Revision=v${version} -X ${build_pkg}.BuildUser=botwatch"
ldflags+=" -X ${build_pkg}.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkdir -p "${bin_dir}"
(
    cd "${src}"
    CGO_ENABLED=0 nice -n 10 go build -mod=mod -trimpath -ldflags "${ldflags}" -o "${target}.tmp" ./cmd/loki
)
mv "${target}.tmp" "${target}"
rm -rf "${work}"
say "done in $(elapsed): ${target}"
"${target}" -version 2>&1 | head -n1
