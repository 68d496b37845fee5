#!/usr/bin/env bash
# make demo: three local daemons on 127.0.0.1; a corpus added on node 2; a
# WASM wordcount job submitted from node 1 by CID lands on node 2 because it
# holds the data; its output is printed and fetched back on node 1.
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL="$PWD/bin/shoal"
work=$(mktemp -d "${TMPDIR:-/tmp}/shoal-demo.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
s() { local n=$1; shift; "$SHOAL" --repo "$work/node$n" "$@"; }

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
  echo "== node $n: $(s $n id --json | grep '"id"' | tr -d ' ",' | cut -d: -f2)"
  s $n peers --wait 2 --timeout 30s
done
echo "== shoal nodes (from the DHT, as seen by node 3)"
s 3 nodes --wait 3 --timeout 30s

echo "== node 2 adds a corpus (node 1 and 3 do not have it)"
mkdir -p "$work/corpus"
cp README.md docs/*.md "$work/corpus/"
data=$(s 2 add -q -r "$work/corpus")
echo "corpus: $data"
module=$(s 1 add -q examples/wordcount/wordcount.wasm)
echo "wordcount module (added on node 1): $module"

echo "== node 1 submits a wordcount job over $data"
job=$(s 1 run wasm "$module" --input "$data:/inputs" --name "demo-$(date +%s)" --detach)
s 1 job wait "$job" | head -5
executor=$(s 1 job describe "$job" --json | grep -m1 '"executor"' | tr -d ' ",' | cut -d: -f2)
echo "== the job ran on $executor (node 2 is $(s 2 id --json | grep '"id"' | tr -d ' ",' | cut -d: -f2))"
s 1 job describe "$job" | sed -n '/^Bids:/,/^Receipts:/p'
echo "== node 1 fetches the outputs by CID"
s 1 job get "$job" -o "$work/out"
head -5 "$work/out/counts.txt"
echo "== stopping"
