#!/usr/bin/env bash
# seaweedfs.sh builds SeaweedFS's `weed` (the version pinned in
# testground/interop/seaweedfs, Apache-2.0) into a cache outside the
# repository, only if it is not there yet, and prints the binary's path on
# stdout. Progress goes to stderr. The tests start it as a real S3-compatible
# server on loopback (`weed server -s3`).
#
#   export SHOAL_WEED="$(scripts/seaweedfs.sh)"
#   go test ./content/s3io/...
#
# Cache: ${SHOAL_TOOLS:-$HOME/.cache/shoal/tools}/weed-<version>
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/testground/interop/seaweedfs"
version="$(awk '{for (i = 1; i < NF; i++) if ($i == "github.com/seaweedfs/seaweedfs") { print $(i + 1); exit }}' "$mod/go.mod")"
tools="${SHOAL_TOOLS:-$HOME/.cache/shoal/tools}"
bin="$tools/weed-$version"

if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$tools"
tmp="$(mktemp "$tools/.weed-$version.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
echo "seaweedfs.sh: building weed $version into $bin (takes a few minutes)" >&2
(
	cd "$mod"
	GOFLAGS="${GOFLAGS:-} -mod=readonly" GOWORK=off \
		go build -trimpath -ldflags='-s -w' -o "$tmp" github.com/seaweedfs/seaweedfs/weed
)
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
trap - EXIT
"$bin" version >&2
echo "$bin"
