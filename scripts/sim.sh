#!/usr/bin/env bash
# make sim: Shoal's default simulation compositions, with their figures.
#
#   sim          placement on 500 nodes (1000 jobs, fails below 99% of jobs
#                on a holder of their input), placement on 100 nodes (1000 jobs), churn on 50 nodes (20% of executors killed),
#                discovery and throughput at several sizes
#   local:exec   churn with 30 processes (6 executors get SIGKILL); as root
#                with ip and nft, the nat plan behind endpoint-independent
#                and behind symmetric NATs (network namespaces)
#   local:docker partition and heal with 10 containers
#
# Results go to testground/runs/<run-id>/ (results.json, plot.svg, every
# instance's run.out). Environment:
#   SIM_QUICK=1       skip the 500-node run (it needs ~13 GB of memory and
#                     ~1.5 minutes on 2 cores)
#   SIM_OUTPUTS=DIR   where runs go (default testground/runs)
# Docker runs are skipped, with a message, when no Docker Engine answers;
# NAT runs, with a message, without root, ip or nft.
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
OUT=${SIM_OUTPUTS:-testground/runs}
BIN=bin/shoal-sim
PLANBIN=$OUT/.bin
mkdir -p bin "$PLANBIN"

start=$(date +%s)
say() { printf '\n== %s\n' "$*" >&2; }

say "building shoal-sim and the plan binaries (static, for local:exec and local:docker)"
$GO build -o "$BIN" ./cmd/shoal-sim || exit 1
for p in churn partition nat; do
	"$BIN" build --plan "$p" --out "$PLANBIN" >/dev/null || exit 1
done

failed=()
runs=()
# run NAME ARGS...: one run; its ID is the newest directory under $OUT.
run() {
	local name=$1
	shift
	local t0=$(date +%s)
	say "$name"
	if "$@" --outputs "$OUT"; then
		:
	else
		failed+=("$name")
	fi
	local id
	id=$(ls -t "$OUT" | grep -v '^\.' | head -1)
	runs+=("$name|$id|$(($(date +%s) - t0))s")
}

docker_ok() { "$BIN" run --help >/dev/null 2>&1 && { [ -S /var/run/docker.sock ] || [ -n "${DOCKER_HOST:-}" ]; }; }

if [ -z "${SIM_QUICK:-}" ]; then
	GOMEMLIMIT=${GOMEMLIMIT:-14GiB} run "sim: placement, 500 nodes, 1000 jobs" \
		"$BIN" run --composition testground/compositions/placement-sim-500.toml --gogc 100
fi
run "sim: placement, 100 nodes, 1000 jobs" "$BIN" run --composition testground/compositions/placement-sim-1000jobs.toml
run "sim: churn, 50 nodes, 20% of executors killed" "$BIN" run --composition testground/compositions/churn-sim.toml
for n in 25 100; do
	run "sim: discovery, $n nodes" "$BIN" run --plan discovery --runner sim --instances $n --latency 5ms \
		--param lookers=25 --param lookups=2 --param dht_bucket_size=10 --param dht_alpha=3
done
for n in 10 50; do
	run "sim: throughput, $n nodes" "$BIN" run --plan throughput --runner sim --instances $n --latency 5ms \
		--param jobs=200 --param concurrency=2
done
run "local:exec: churn, 30 processes" "$BIN" run --composition testground/compositions/churn-exec-30.toml \
	--binary "$PLANBIN/churn"
nat_ok() { [ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v nft >/dev/null; }

if nat_ok; then
	run "local:exec: nat, 3 processes behind endpoint-independent NATs" "$BIN" run \
		--composition testground/compositions/nat-exec.toml --binary "$PLANBIN/nat"
	run "local:exec: nat, 3 processes behind symmetric NATs" "$BIN" run \
		--composition testground/compositions/nat-symmetric-exec.toml --binary "$PLANBIN/nat"
else
	say "local:exec NAT runs skipped: they need root, ip and nft (network namespaces)"
fi
if docker_ok; then
	run "local:docker: partition and heal, 10 containers" "$BIN" run \
		--composition testground/compositions/partition-docker-10.toml --binary "$PLANBIN/partition"
else
	say "local:docker skipped: no Docker Engine (DOCKER_HOST unset and no /var/run/docker.sock)"
fi

say "figures"
for r in "${runs[@]}"; do
	IFS='|' read -r name id took <<<"$r"
	printf '\n-- %s (%s, wall %s)\n' "$name" "$id" "$took"
	"$BIN" report --outputs "$OUT" "$id" | grep -v '^results:\|^plot:'
done
printf '\nmake sim: %ds in all; runs under %s/\n' "$(($(date +%s) - start))" "$OUT"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
