package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
)

// BenchmarkVerify: submit→result of a job verified by 3 replicas beside a
// single run of the same job (and of one pinned to another node), on 4
// nodes (goal: at most 1.3x the single run's p50). Both run afresh (reuse:
// never; verify keeps the module deterministic). Two jobs:
//   - hello: examples/hello, CPU-bound (~15 ms of Go runtime start on this
//     machine): three replicas on 2 cores need at least 1.5x the CPU time
//     of one, whatever the protocol does;
//   - sleep: a job that waits 200 ms (internal/testnet/wasm/sleep), as
//     jobs that read, fetch or compute on other cores do: the ratio is the
//     protocol's own cost of verifying.
func BenchmarkVerify(b *testing.B) {
	ds, hello := benchNet(b, 4)
	sleep := addModuleOnly(b, ds, testnet.WasmModule(b, "internal/testnet/wasm/sleep"))
	for i, d := range ds { // compile it once on each node
		spec := fmt.Sprintf("name: warm-sleep-%d-%d\nengine:\n  wasm:\n    module: %s\n    args: [\"1ms\"]\nconstraints:\n  executors:\n    peers: [%s]\n", i, time.Now().UnixNano(), sleep, d.ID)
		if _, err := submitWait(context.Background(), d, []byte(spec)); err != nil {
			b.Fatalf("warm-up on %s: %v", d.ID, err)
		}
	}
	for _, c := range []struct {
		name string
		spec func(name string) string
	}{
		{"hello", func(name string) string { return string(helloSpec(hello, name)) }},
		{"sleep200ms", func(name string) string {
			return fmt.Sprintf("name: %s\nengine:\n  wasm:\n    module: %s\n    args: [\"200ms\"]\n", name, sleep)
		}},
	} {
		b.Run(c.name, func(b *testing.B) { benchVerify(b, ds, c.spec) })
	}
}

func benchVerify(b *testing.B, ds []*testnet.Daemon, specOf func(name string) string) {
	ctx := context.Background()
	var single, remote, verified []time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("verify-%d-%d", i, time.Now().UnixNano())
		start := time.Now()
		if _, err := submitWait(ctx, ds[0], []byte(specOf(name)+"reuse: never\n")); err != nil {
			b.Fatal(err)
		}
		single = append(single, time.Since(start))
		// The same job on another node (the single run above may run on
		// the requester itself, unannounced): what one replica costs.
		rspec := specOf(name+"-remote") + fmt.Sprintf("reuse: never\nconstraints:\n  executors:\n    peers: [%s]\n", ds[1].ID)
		start = time.Now()
		if _, err := submitWait(ctx, ds[0], []byte(rspec)); err != nil {
			b.Fatal(err)
		}
		remote = append(remote, time.Since(start))
		start = time.Now()
		j, err := submitWait(ctx, ds[0], []byte(specOf(name)+"reuse: never\nverify: {replicas: 3}\n"))
		if err != nil {
			b.Fatal(err)
		}
		verified = append(verified, time.Since(start))
		if j.Verification == nil || !j.Verification.Verified || len(j.Receipts) != 3 {
			b.Fatalf("not verified by 3: %+v", j.Verification)
		}
	}
	s50, r50, v50 := ms(percentile(single, 50)), ms(percentile(remote, 50)), ms(percentile(verified, 50))
	b.ReportMetric(s50, "ms-p50-single")
	b.ReportMetric(r50, "ms-p50-single-remote")
	b.ReportMetric(v50, "ms-p50-verify3")
	b.ReportMetric(v50/s50, "ratio-verify3-to-single")
	b.ReportMetric(v50/r50, "ratio-verify3-to-single-remote")
	b.ReportMetric(v50/s50/1.3, "ratio-to-1.3x-goal")
}

// addModuleOnly adds the module file on every node (no warm-up run) and
// returns its CID.
func addModuleOnly(b *testing.B, ds []*testnet.Daemon, path string) string {
	b.Helper()
	var mod string
	for _, d := range ds {
		out, err := d.Run("add", "-q", path)
		if err != nil {
			b.Fatal(err)
		}
		mod = strings.TrimSpace(out)
	}
	return mod
}
