#!/usr/bin/env bash
# kubo.sh builds kubo's `ipfs` (the version pinned in testground/interop/kubo)
# into a cache outside the repository, only if it is not there yet, and prints
# the binary's path on stdout. Progress goes to stderr.
#
#   export SHOAL_KUBO="$(scripts/kubo.sh)"
#   go test ./content/...
#
# Cache: ${SHOAL_TOOLS:-$HOME/.cache/shoal/tools}/ipfs-v0.43.1
# kubo cannot be `go install`ed (its go.mod replaces go-libp2p with a fork the
# module proxy does not serve); the module in testground/interop/kubo requires
# kubo and a released go-libp2p instead. Cold build: about 3 minutes.
set -euo pipefail

KUBO_VERSION=v0.43.1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${SHOAL_TOOLS:-$HOME/.cache/shoal/tools}"
bin="$tools/ipfs-$KUBO_VERSION"

if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$tools"
tmp="$(mktemp "$tools/.ipfs-$KUBO_VERSION.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
echo "kubo.sh: building ipfs $KUBO_VERSION into $bin (takes a few minutes)" >&2
(
	cd "$root/testground/interop/kubo"
	GOFLAGS="${GOFLAGS:-} -mod=readonly" GOWORK=off \
		go build -trimpath -ldflags='-s -w' -o "$tmp" github.com/ipfs/kubo/cmd/ipfs
)
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
trap - EXIT
"$bin" version >&2
echo "$bin"
