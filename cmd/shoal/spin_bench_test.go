package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/node/api"
)

// spinWasm is a module whose _start loops forever: (loop (br 0)).
var spinWasm = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type 0: () -> ()
	0x03, 0x02, 0x01, 0x00, // func 0 of type 0
	0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export _start
	0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // code: loop br 0 end end
}

// BenchmarkSpinAPILatency: a job whose module spins forever, with a 1 s
// timeout, on one daemon: how long after its submission it has failed
// (goal: within 1.1 s of its start; the run is killed with its worker),
// and the daemon's API latency (GET /id, back to back) while it spins
// beside the same number of samples taken just before it (goal: p99
// unchanged).
func BenchmarkSpinAPILatency(b *testing.B) {
	ds := jobNetWindow(b, 1, 0)
	d := ds[0]
	path := filepath.Join(b.TempDir(), "spin.wasm")
	if err := os.WriteFile(path, spinWasm, 0o644); err != nil {
		b.Fatal(err)
	}
	mod := addModuleOnly(b, ds, path)
	ctx := context.Background()
	// sample calls GET /id back to back until stop is closed.
	sample := func(stop <-chan struct{}) []time.Duration {
		var s []time.Duration
		for {
			select {
			case <-stop:
				return s
			default:
			}
			start := time.Now()
			if _, err := d.Client.ID(ctx); err != nil {
				b.Error(err)
				return s
			}
			s = append(s, time.Since(start))
		}
	}
	var before, during, failedAfter []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spec := fmt.Sprintf("name: spin-%d-%d\nengine:\n  wasm:\n    module: %s\ntimeout: 1s\nreuse: never\n", i, time.Now().UnixNano(), mod)
		// The baseline: as long as the job's run, just before it.
		stop := make(chan struct{})
		time.AfterFunc(time.Second, func() { close(stop) })
		before = append(before, sample(stop)...)

		stop = make(chan struct{})
		var wg sync.WaitGroup
		var got []time.Duration
		wg.Go(func() { got = sample(stop) })
		start := time.Now()
		res, err := d.Client.Submit(ctx, []byte(spec), false)
		if err != nil {
			b.Fatal(err)
		}
		j, err := d.Client.Events(ctx, res.ID, nil)
		failedAfter = append(failedAfter, time.Since(start))
		close(stop)
		wg.Wait()
		during = append(during, got...)
		if err != nil {
			b.Fatal(err)
		}
		if j.State != api.JobFailed || j.ErrorCode != "timeout" {
			b.Fatalf("spin job %s (%s %s), want failed with timeout", j.State, j.ErrorCode, j.Error)
		}
	}
	b.StopTimer()
	p99b, p99d := percentile(before, 99), percentile(during, 99)
	b.ReportMetric(ms(percentile(failedAfter, 50)), "ms-p50-submit-to-failed")
	b.ReportMetric(ms(slices.Max(failedAfter)), "ms-max-submit-to-failed")
	b.ReportMetric(ms(slices.Max(failedAfter))/1100, "ratio-to-1.1s-goal")
	b.ReportMetric(ms(percentile(before, 50)), "ms-p50-api-before")
	b.ReportMetric(ms(p99b), "ms-p99-api-before")
	b.ReportMetric(ms(percentile(during, 50)), "ms-p50-api-during")
	b.ReportMetric(ms(p99d), "ms-p99-api-during")
	b.ReportMetric(float64(p99d)/float64(max(p99b, 1)), "ratio-p99-during-to-before")
}
