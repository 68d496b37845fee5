#!/usr/bin/env bash
# make demo: three local daemons on 127.0.0.1; a corpus added on node 2; a
# WASM wordcount job submitted from node 1 by CID lands on node 2 because it
# holds the data; its output is printed and fetched back on node 1.
set -euo pipefail
source "$(dirname "$0")/demo-lib.sh" shoal-demo
start_three
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
