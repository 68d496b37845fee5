package docker_test

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkHello measures a container's whole life through Run: create,
// attach, start, exit, output read, removed. Run with e.g.
// -bench . -benchtime 20x ./exec/docker.
func BenchmarkHello(b *testing.B) { benchHello(b, "") }

// BenchmarkHelloOutputs is BenchmarkHello with an outputs directory: the
// size-bounded outputs volume and its keeper container are created, the
// outputs copied out and both removed on every run.
func BenchmarkHelloOutputs(b *testing.B) { benchHello(b, b.TempDir()) }

func benchHello(b *testing.B, outputs string) {
	x := newExecutor(b)
	tk := progTask("bench-hello", "hello")
	tk.OutputsDir = outputs
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		res, err := x.Run(context.Background(), tk)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Run = %+v, %v", res, err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(time.Millisecond), "p50-ms/op")
}
