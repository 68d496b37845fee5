#!/usr/bin/env bash
# make demo-workflow: three local daemons on 127.0.0.1; a corpus of three
# files, each added on a different node; `shoal dir make` builds the dataset's
# directory without fetching anything; a workflow counts each file where it
# lives (a map step partitioned over the dataset's entries: one task per
# file, each placed on the file's holder) and merges the count tables
# (reduce, over the map's result directory: task i's table under /<i>/).
# Prints the top words and, per task, where it ran and how many input bytes
# crossed the network (the goal: 0 for every map task; only the small count
# tables travel to the reduce).
set -euo pipefail
source "$(dirname "$0")/demo-lib.sh" shoal-demo-workflow
start_three
declare -A ids
for n in 1 2 3; do
  ids[$n]=$(s $n id --json | grep '"id"' | tr -d ' ",' | cut -d: -f2)
  echo "   node $n: ${ids[$n]}"
  s $n peers --wait 2 --timeout 30s >/dev/null
done

echo "== the corpus: one file on each node (the others do not have it)"
files=(README.md docs/architecture.md docs/jobspec.md)
entries=()
declare -A cids
for i in 1 2 3; do
  f=${files[$((i-1))]}
  cids[$i]=$(s $i add -q "$f")
  entries+=("$(basename "$f")=${cids[$i]}")
  echo "   node $i holds $f as ${cids[$i]} ($(wc -c <"$f") bytes)"
done
dataset=$(s 1 dir make -q "${entries[@]}")
echo "== the dataset, built on node 1 without fetching a file: $dataset"
s 1 stat "$dataset" | grep -E '^(Blocks|Local bytes)' || true

wcmap=$(s 1 add -q examples/wcmap/wcmap.wasm)
wcreduce=$(s 1 add -q examples/wcreduce/wcreduce.wasm)
echo "== modules (added on node 1): wcmap $wcmap, wcreduce $wcreduce"

# One map step partitioned by entry over the dataset: its tasks are placed
# one by one, each preferring the holder of its file.
wf="$work/wordcount.yaml"
cat >"$wf" <<WF
name: wordcount-demo-$(date +%s)
steps:
  - name: map
    engine: {wasm: {module: $wcmap}}
    partition: {by: entry}
    inputs: [{cid: $dataset, path: /inputs}]
  - name: reduce
    engine: {wasm: {module: $wcreduce, env: {WCREDUCE_TOP: "10"}}}
    inputs: [{from: map, path: /inputs}]
WF
echo "== the workflow"
sed 's/^/   /' "$wf"

echo "== node 1 runs it"
s 1 workflow run "$wf"
id=$(s 1 workflow list --json | grep -m1 '"id"' | tr -d ' ",' | cut -d: -f2)

echo "== top words"
s 1 workflow get "$id" reduce -o "$work/reduce" 2>/dev/null
cat "$work/reduce/top.txt"

echo "== where each step and map task ran, and the input bytes that crossed the network"
# (each peer ID replaced by its node's name, padded to keep the columns)
name() { printf "%-${#ids[$1]}s" "node $1"; }
s 1 workflow describe "$id" | sed -e "s/${ids[1]}/$(name 1)/g" -e "s/${ids[2]}/$(name 2)/g" -e "s/${ids[3]}/$(name 3)/g"
# The goal, checked: every map task ran on its file's holder, fetching 0 bytes.
declare -A holder
for i in 1 2 3; do holder[$(basename "${files[$((i-1))]}")]=${ids[$i]}; done
desc=$(s 1 workflow describe "$id")
ok=0
while read -r task shard exec held n unit _; do
  if [ "$exec" = "${holder[$shard]:-}" ] && [ "$held" = yes ] && [ "$n $unit" = "0 B" ]; then
    ok=$((ok+1))
  else
    echo "   task $task ($shard) ran on $exec, held locally $held, fetched $n $unit: not on its holder with 0 bytes"
  fi
done < <(sed -n '/^Step map:/,$p' <<<"$desc" | grep -E '^  [0-9]+ ')
echo "== map tasks on their file's holder with 0 input bytes fetched: $ok of ${#files[@]}"
[ "$ok" = "${#files[@]}" ]
echo "== stopping"
