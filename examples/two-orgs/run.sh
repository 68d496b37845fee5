#!/usr/bin/env bash
# Two organizations share compute under policy, on four local daemons in a
# private swarm:
#
#   acme-1   acme's admin node; member of acme (requester and executor)
#   acme-2   acme executor
#   globex-1 globex's admin node; member of globex (requester and executor)
#   globex-2 globex executor
#
# acme's nodes accept wasm jobs from members of acme and globex, at most
# 512MiB and one core per job (acme-policy.json); globex's nodes serve
# globex only (globex-policy.json). Every node trusts both orgs' keys. Then:
#
#   1. globex-1 runs a job that must run on acme's nodes: it does (shared compute);
#   2. acme-1 runs a job that must run on globex's nodes: they refuse, and the
#      job fails saying why ("requester not in allowed orgs [globex]");
#   3. globex-1 asks acme for 2GiB of memory: refused (resources_exceeded);
#   4. acme revokes globex-1 on acme-2: its next job there is refused.
#
# Usage: bash examples/two-orgs/run.sh   (KEEP=1 leaves the daemons running)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/shoal-two-orgs.XXXXXX")"
bin="$work/shoal"
pids=()

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo "daemons left running (pids ${pids[*]}); repos in $work"
    return
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
s() { local n="$1"; shift; "$bin" --repo "$work/$n" "$@"; }

step "build shoal and the hello module"
(cd "$root" && go build -o "$bin" ./cmd/shoal)
(cd "$root" && GOOS=wasip1 GOARCH=wasm go build -o "$work/hello.wasm" ./examples/hello)

step "four repos in one private swarm"
"$bin" swarm-key > "$work/swarm.key"
nodes=(acme-1 acme-2 globex-1 globex-2)
for n in "${nodes[@]}"; do
  s "$n" init --profile local --swarm-key "$work/swarm.key" --label "org=${n%-*}" > /dev/null
done
id() { grep -o '"peer_id": "[^"]*"' "$work/$1/config" | cut -d'"' -f4; }

step "orgs: keys, certificates, trust (no daemon needed)"
acme_key=$(s acme-1 org init acme | sed -n 2p | tr -d ' ')
globex_key=$(s globex-1 org init globex | sed -n 2p | tr -d ' ')
s acme-1 org issue --org acme --role both "$(id acme-1)" -o "$work/acme-1.cert" 2> /dev/null
s acme-1 org issue --org acme --role executor "$(id acme-2)" -o "$work/acme-2.cert" 2> /dev/null
s globex-1 org issue --org globex --role both "$(id globex-1)" -o "$work/globex-1.cert" 2> /dev/null
s globex-1 org issue --org globex --role executor "$(id globex-2)" -o "$work/globex-2.cert" 2> /dev/null
for n in "${nodes[@]}"; do
  s "$n" org join "$work/$n.cert"
  s "$n" org trust acme "$acme_key" > /dev/null
  s "$n" org trust globex "$globex_key" > /dev/null
done
for n in acme-1 acme-2; do s "$n" policy set "$here/acme-policy.json" > /dev/null; done
for n in globex-1 globex-2; do s "$n" policy set "$here/globex-policy.json" > /dev/null; done
s acme-2 org list

step "start the daemons"
start() {
  local n="$1"; shift
  "$bin" --repo "$work/$n" daemon "$@" > "$work/$n.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "Daemon is ready" "$work/$n.log" 2> /dev/null && return
    sleep 0.1
  done
  echo "$n did not start:"; cat "$work/$n.log"; exit 1
}
start acme-1
boot=$(grep -o 'swarm listening on /ip4/127.0.0.1/tcp/[^ ]*' "$work/acme-1.log" | head -1 | sed 's/swarm listening on //')
for n in acme-2 globex-1 globex-2; do start "$n" --bootstrap "$boot"; done
for n in "${nodes[@]}"; do s "$n" peers --wait 3 --timeout 30s > /dev/null; done
grep -h "QUIC switched off" "$work/acme-1.log" | head -1
s acme-2 policy show

job() { # job NAME SUBMITTER EXTRA-YAML: writes the spec, prints its path
  local mod; mod=$(s "$2" add -q "$work/hello.wasm")
  printf 'name: %s\nengine:\n  wasm:\n    module: %s\n    args: ["%s"]\nqueue_timeout: 5s\n%b' "$1" "$mod" "$1" "$3" > "$work/$1.yaml"
  echo "$work/$1.yaml"
}
executor_of() { s "$1" job describe "$2" | sed -n 's/^ *executor \(12D3[^,]*\),.*/\1/p' | head -1; }
name_of() { for n in "${nodes[@]}"; do [ "$(id "$n")" = "$1" ] && echo "$n"; done; }

step "1. globex runs a job on acme's nodes"
spec=$(job globex-on-acme globex-1 'constraints:\n  executors:\n    orgs: [acme]\n')
out=$(s globex-1 job run --detach "$spec")
s globex-1 job run "$spec"
echo "ran on $(name_of "$(executor_of globex-1 "$out")")"

step "2. acme asks for globex's nodes: globex serves globex only"
spec=$(job acme-on-globex acme-1 'constraints:\n  executors:\n    orgs: [globex]\n')
if s acme-1 job run "$spec"; then echo "unexpected: the job ran"; exit 1; fi
s acme-1 job describe "$(s acme-1 job list | awk '/acme-on-globex/ {print $1}')" | sed -n '/^Declines:/,/^$/p'

step "3. globex asks acme for 2GiB: over acme's per-job ceiling"
spec=$(job too-big globex-1 'resources: {memory: 2GiB}\nconstraints:\n  executors:\n    orgs: [acme]\n')
if s globex-1 job run "$spec"; then echo "unexpected: the job ran"; exit 1; fi

step "4. acme-2 revokes globex-1: its jobs are refused there at once"
s acme-2 org revoke "$(id globex-1)"
spec=$(job after-revoke globex-1 "constraints:\n  executors:\n    peers: [$(id acme-2)]\n")
if s globex-1 job run "$spec"; then echo "unexpected: the job ran"; exit 1; fi

step "abuse standing of the peers, seen from acme-1"
s acme-1 policy peers
echo; echo "two organizations shared compute under policy; every refusal was explained"
