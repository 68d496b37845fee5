#!/usr/bin/env bash
# make demo: three local daemons on 127.0.0.1, their peers and the nodes they
# find in the DHT, then a clean shutdown.
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL="$PWD/bin/shoal"
work=$(mktemp -d "${TMPDIR:-/tmp}/shoal-demo.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

start() { # start N [bootstrap]: init and start node N, wait until it is ready
  local n=$1 repo="$work/node$1"
  "$SHOAL" --repo "$repo" init --profile local --label "demo-node=$n" >/dev/null
  local args=(--repo "$repo" daemon)
  [ -n "${2:-}" ] && args+=(--bootstrap "$2")
  "$SHOAL" "${args[@]}" >"$work/node$n.log" 2>&1 &
  pids+=($!)
  # The daemon prints "Daemon is ready" once its API serves.
  timeout 60 bash -c "until grep -qs 'Daemon is ready' '$work/node$n.log'; do sleep 0.1; done" || { cat "$work/node$n.log"; exit 1; }
}

echo "== starting 3 daemons (profile local, 127.0.0.1)"
start 1
boot=$(grep -m1 'swarm listening on /ip4/127.0.0.1/tcp/' "$work/node1.log" | awk '{print $4}')
start 2 "$boot"
start 3 "$boot"
for n in 1 2 3; do
  echo "== node $n: $("$SHOAL" --repo "$work/node$n" id --json | grep '"id"' | tr -d ' ",' | cut -d: -f2)"
  "$SHOAL" --repo "$work/node$n" peers --wait 2 --timeout 30s
done
echo "== shoal nodes (from the DHT, as seen by node 3)"
"$SHOAL" --repo "$work/node3" nodes --wait 3 --timeout 30s
echo "== stopping"
