package docker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
)

// BenchmarkHello measures a container's whole life through Run: create,
// attach, start, exit, output read, removed. Run with e.g.
// -bench . -benchtime 20x ./exec/docker.
func BenchmarkHello(b *testing.B) {
	x := newExecutor(b)
	tk := progTask("bench-hello", "hello")
	var ds []time.Duration
	for b.Loop() {
		ds = append(ds, runHello(b, x, tk))
	}
	b.ReportMetric(p50ms(ds), "p50-ms/op")
}

// BenchmarkHelloOutputs runs, in turn in each iteration, the hello task
// without outputs, with outputs in a tmpfs mounted on the host (the
// default when the process may mount) and with outputs in a volume held by
// a keeper container (WithOutputsVolume), and reports each one's p50 and
// the ratios. ns/op is the sum of the three.
func BenchmarkHelloOutputs(b *testing.B) {
	bare, tmpfs, keeper := newExecutor(b), newExecutor(b), newExecutor(b, docker.WithOutputsVolume())
	tk := progTask("bench-hello", "hello")
	out := progTask("bench-hello-outputs", "hello")
	var dBare, dTmpfs, dKeeper []time.Duration
	for b.Loop() {
		dBare = append(dBare, runHello(b, bare, tk))
		out.OutputsDir = b.TempDir()
		dTmpfs = append(dTmpfs, runHello(b, tmpfs, out))
		out.OutputsDir = b.TempDir()
		dKeeper = append(dKeeper, runHello(b, keeper, out))
	}
	b.ReportMetric(p50ms(dBare), "none-p50-ms")
	b.ReportMetric(p50ms(dTmpfs), "tmpfs-p50-ms")
	b.ReportMetric(p50ms(dKeeper), "keeper-p50-ms")
	b.ReportMetric(p50ms(dTmpfs)/p50ms(dBare), "tmpfs/none")
	b.ReportMetric(p50ms(dKeeper)/p50ms(dTmpfs), "keeper/tmpfs")
}

func runHello(b *testing.B, x *docker.Executor, tk *exec.Task) time.Duration {
	b.Helper()
	start := time.Now()
	res, err := x.Run(context.Background(), tk)
	if err != nil || res.ExitCode != 0 {
		b.Fatalf("Run = %+v, %v", res, err)
	}
	return time.Since(start)
}

func p50ms(ds []time.Duration) float64 {
	ds = slices.Sorted(slices.Values(ds))
	return float64(ds[len(ds)/2]) / float64(time.Millisecond)
}
