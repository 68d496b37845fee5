package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkVerify: submit→result of a job verified by 3 replicas beside a
// single run of the same job (and of one pinned to another node), on 4
// nodes (goal: at most 1.3x the single
// run's p50). Both run afresh (reuse: never; verify keeps the module
// deterministic).
func BenchmarkVerify(b *testing.B) {
	ds, mod := benchNet(b, 4)
	ctx := context.Background()
	var single, remote, verified []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("verify-%d-%d", i, time.Now().UnixNano())
		spec := append(helloSpec(mod, name), "reuse: never\n"...)
		start := time.Now()
		if _, err := submitWait(ctx, ds[0], spec); err != nil {
			b.Fatal(err)
		}
		single = append(single, time.Since(start))
		// The same job on another node (the single run above may run on
		// the requester itself, unannounced): what one replica costs.
		rspec := append(helloSpec(mod, name+"-remote"), fmt.Sprintf("reuse: never\nconstraints:\n  executors:\n    peers: [%s]\n", ds[1].ID)...)
		start = time.Now()
		if _, err := submitWait(ctx, ds[0], rspec); err != nil {
			b.Fatal(err)
		}
		remote = append(remote, time.Since(start))
		vspec := append(helloSpec(mod, name), "reuse: never\nverify: {replicas: 3}\n"...)
		start = time.Now()
		j, err := submitWait(ctx, ds[0], vspec)
		if err != nil {
			b.Fatal(err)
		}
		verified = append(verified, time.Since(start))
		if j.Verification == nil || !j.Verification.Verified || len(j.Receipts) != 3 {
			b.Fatalf("not verified by 3: %+v", j.Verification)
		}
	}
	s50, v50 := ms(percentile(single, 50)), ms(percentile(verified, 50))
	b.ReportMetric(s50, "ms-p50-single")
	b.ReportMetric(ms(percentile(remote, 50)), "ms-p50-single-remote")
	b.ReportMetric(v50, "ms-p50-verify3")
	b.ReportMetric(v50/s50, "ratio-verify3-to-single")
	b.ReportMetric(v50/s50/1.3, "ratio-to-1.3x-goal")
}
