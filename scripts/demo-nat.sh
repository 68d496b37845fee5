#!/usr/bin/env bash
# make demo-nat: builds a NAT topology in network namespaces (a public
# segment with a bootstrap+relay node, sites A and B behind their own
# masquerading routers), starts the nodes, adds a dataset at B, submits a
# job from A that runs at B, and prints the connection path (relayed, then
# direct after hole punching), the placement and the bytes that crossed the
# relay; then the figures: time to the first direct connection, bitswap
# MiB/s over it, hole-punch success over fresh attempts in both topologies
# (SHOAL_NAT_ATTEMPTS, default 20). Everything is removed at the end, also
# on failure (the Go test harness in internal/natlab does it). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo-nat needs root (network namespaces, nftables)" >&2; exit 1; }
export SHOAL_NAT_ATTEMPTS="${SHOAL_NAT_ATTEMPTS:-20}"
log=$(mktemp "${TMPDIR:-/tmp}/shoal-demo-nat.XXXXXX")
trap 'rm -f "$log"' EXIT
set +e
go test -count=1 -v -timeout 60m \
  -run 'TestNATJobFromARunsAtB|TestNATHolePunchUpgradesToDirect|TestNATSymmetric|TestNATHolePunchAttempts' \
  ./internal/natlab/ >"$log" 2>&1
rc=$?
set -e
grep -E '^(=== RUN|--- (PASS|FAIL)|\s+nat_test.go:[0-9]+: )' "$log" | sed 's/^\s*nat_test.go:[0-9]*: /    /'
echo
echo "== figures"
grep -o 'FIGURE .*' "$log" | sed 's/^FIGURE /  /'
if [ $rc -ne 0 ]; then
  echo "demo-nat FAILED; full log:" >&2
  tail -200 "$log" >&2
fi
left=$(ip netns list | grep -c '^shoalnat' || true)
echo "== namespaces left behind: $left"
exit $rc
