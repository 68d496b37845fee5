# Sourced by the demo scripts: local daemons on 127.0.0.1 in a scratch
# directory ($work, removed on exit unless KEEP is set), each stopped on
# exit. Defines s N ARGS (shoal on node N's repo), start N [BOOTSTRAP] and
# start_three (nodes 1-3, 2 and 3 bootstrapped from 1). $1: the name of the
# scratch directory.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SHOAL="$PWD/bin/shoal"
work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
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

start_three() {
  echo "== starting 3 daemons (profile local, 127.0.0.1)"
  start 1
  local boot
  boot=$(grep -m1 'swarm listening on /ip4/127.0.0.1/tcp/' "$work/node1.log" | awk '{print $4}')
  start 2 "$boot"
  start 3 "$boot"
}
