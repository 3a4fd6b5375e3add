#!/usr/bin/env bash
# Build the pinned Alertmanager and amtool from the Go module proxy.
#
# Debian ships Alertmanager 0.25; the Telegram receiver's bot_token_file needs
# >= 0.26. The version comes from deploy/versions.env (ALERTMANAGER_VERSION=).
# Binaries land in ${BOTWATCH_CACHE:-$HOME/.cache/botwatch}/bin/; a binary that
# already reports the pinned version is kept. Needs only Go (see go.mod of the
# pinned release for the minimum Go version).
#
# 0.31.x is the newest release `go install` can build: from 0.32 the web UI is
# embedded from a generated app/dist directory that is not in the module zip.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions_file="${repo_root}/deploy/versions.env"
version="$(sed -n 's/^ALERTMANAGER_VERSION=//p' "${versions_file}" | tr -d '[:space:]')"
if [[ -z "${version}" ]]; then
    echo "build-alertmanager: ALERTMANAGER_VERSION= missing in ${versions_file}" >&2
    exit 1
fi
version="${version#v}"

bin_dir="${BOTWATCH_CACHE:-${HOME}/.cache/botwatch}/bin"
mkdir -p "${bin_dir}"

installed_version() {
    # "alertmanager, version 0.31.1 (branch: ..., revision: ...)"
    "$1" --version 2>&1 | sed -n 's/^[a-z]*, version \([^ ]*\).*/\1/p' | head -n1
}

up_to_date=1
for tool in alertmanager amtool; do
    if [[ ! -x "${bin_dir}/${tool}" || "$(installed_version "${bin_dir}/${tool}")" != "${version}" ]]; then
        up_to_date=0
    fi
done
if [[ "${up_to_date}" == 1 ]]; then
    echo "build-alertmanager: alertmanager and amtool ${version} already in ${bin_dir}, skipping"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "build-alertmanager: Go is required (https://go.dev/dl/)" >&2
    exit 1
fi

module="github.com/prometheus/alertmanager"
ldflags="-s -w"
ldflags+=" -X github.com/prometheus/common/version.Version=${version}"
ldflags+=" -X github.com/prometheus/common/version.Branch=release"
ldflags+=" -X github.com/prometheus/common/version.Revision=v${version}"
ldflags+=" -X github.com/prometheus/common/version.BuildUser=botwatch"

echo "build-alertmanager: building ${module} v${version} with $(go version | cut -d' ' -f3) into ${bin_dir}"
for tool in alertmanager amtool; do
    echo "build-alertmanager: go install ${module}/cmd/${tool}@v${version} ..."
    start=$(date +%s)
    GOBIN="${bin_dir}" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" \
        nice -n 10 go install -ldflags "${ldflags}" "${module}/cmd/${tool}@v${version}"
    echo "build-alertmanager: ${tool} done in $(( $(date +%s) - start ))s: $("${bin_dir}/${tool}" --version 2>&1 | head -n1)"
done
