package wasm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/wasm"
)

// Run with e.g. -bench . -benchtime 20x ./exec/wasm (cold compiles take
// about a second each).

// p50ms returns the median of ds in milliseconds.
func p50ms(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

// warmP50 runs tk once on x, then b.N times, and returns the p50 of those.
func warmP50(b *testing.B, x *wasm.Executor, tk *exec.Task) float64 {
	mustRun(b, x, tk)
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		mustRun(b, x, tk)
		ds = append(ds, time.Since(start))
	}
	return p50ms(ds)
}

func mustRun(b *testing.B, x *wasm.Executor, tk *exec.Task) {
	res, err := x.Run(context.Background(), tk)
	if err != nil || res.ExitCode != 0 {
		b.Fatalf("Run = %+v, %v", res, err)
	}
}

// BenchmarkHello measures examples/hello from Run to Run's return:
// cold (new executor, compile, run), warm (in-memory cache) and restart
// (new executor on a disk cache filled by an earlier one). Goals: warm
// p50 <= 8 ms, restart p50 <= 100 ms.
func BenchmarkHello(b *testing.B) {
	ctx := context.Background()
	tk := &exec.Task{ID: "bench", WASM: &exec.WASMSpec{ModulePath: example(b, "hello")}, Limits: exec.Limits{MemoryBytes: 64 << 20}}

	b.Run("cold", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			x, err := wasm.New(ctx)
			if err != nil {
				b.Fatal(err)
			}
			mustRun(b, x, tk)
			x.Close()
			ds = append(ds, time.Since(start))
		}
		b.ReportMetric(p50ms(ds), "p50-ms/op")
	})

	b.Run("warm", func(b *testing.B) {
		x, err := wasm.New(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer x.Close()
		b.ReportMetric(warmP50(b, x, tk), "p50-ms/op")
	})

	b.Run("restart", func(b *testing.B) {
		dir := b.TempDir()
		x, err := wasm.New(ctx, wasm.WithCacheDir(dir))
		if err != nil {
			b.Fatal(err)
		}
		mustRun(b, x, tk)
		x.Close()
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			x, err := wasm.New(ctx, wasm.WithCacheDir(dir))
			if err != nil {
				b.Fatal(err)
			}
			mustRun(b, x, tk)
			ds = append(ds, time.Since(start))
			if s := x.Stats(); s.DiskCacheHits != 1 {
				b.Fatalf("Stats() = %+v, want a disk cache hit", s)
			}
			x.Close()
		}
		b.ReportMetric(p50ms(ds), "p50-ms/op")
	})

	// The same through a pool of worker processes: warm (the worker has the
	// module compiled; the per-job cost of the IPC is the difference with
	// "warm") and restart (a new executor on the disk cache: the worker
	// process starts and loads the machine code from disk).
	b.Run("worker-warm", func(b *testing.B) {
		x := newPooled(b, 1)
		p50 := warmP50(b, x, tk)
		b.ReportMetric(p50, "p50-ms/op")
	})

	b.Run("worker-restart", func(b *testing.B) {
		dir := b.TempDir()
		x := newPooled(b, 1, wasm.WithCacheDir(dir))
		mustRun(b, x, tk)
		x.Close()
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			x := newPooled(b, 1, wasm.WithCacheDir(dir))
			mustRun(b, x, tk)
			ds = append(ds, time.Since(start))
			if s := x.Stats(); s.DiskCacheHits != 1 {
				b.Fatalf("Stats() = %+v, want a disk cache hit", s)
			}
			x.Close()
		}
		b.ReportMetric(p50ms(ds), "p50-ms/op")
	})

	// A job's warm start as the job market makes it: the module's bytes and
	// sha256 come from the node's module cache, so the run neither reads
	// the file nor hashes it (the cases above do both on every run).
	code, err := os.ReadFile(tk.WASM.ModulePath)
	if err != nil {
		b.Fatal(err)
	}
	jt := &exec.Task{ID: "bench", WASM: &exec.WASMSpec{Module: code, Digest: sha256.Sum256(code)}, Limits: tk.Limits}
	b.Run("job-warm", func(b *testing.B) {
		x := newExecutor(b)
		p50 := warmP50(b, x, jt)
		b.ReportMetric(p50, "p50-ms/op")
	})
	b.Run("job-worker-warm", func(b *testing.B) {
		x := newPooled(b, 1)
		p50 := warmP50(b, x, jt)
		b.ReportMetric(p50, "p50-ms/op")
		b.ReportMetric(p50/6, "ratio-to-6ms-goal")
	})

	// A daemon restart as a job meets it: the new executor's worker has
	// compiled the module kept for preloading (WithPreload) by the time
	// the job comes; "worker-restart" above is a job that comes at once.
	b.Run("job-worker-restart-preloaded", func(b *testing.B) {
		opts := []wasm.Option{wasm.WithCacheDir(b.TempDir()), wasm.WithPreload(b.TempDir(), 0)}
		x := newPooled(b, 1, opts...)
		mustRun(b, x, jt)
		x.Close()
		var ds []time.Duration
		for b.Loop() {
			x := newPooled(b, 1, opts...)
			for deadline := time.Now().Add(time.Minute); x.Stats().Preloaded == 0; {
				if time.Now().After(deadline) {
					b.Fatalf("no module preloaded: %+v", x.Stats())
				}
				time.Sleep(time.Millisecond) // the daemon joining the network meanwhile
			}
			start := time.Now()
			mustRun(b, x, jt)
			ds = append(ds, time.Since(start))
			x.Close()
		}
		b.ReportMetric(p50ms(ds), "p50-ms/op")
		b.ReportMetric(p50ms(ds)/30, "ratio-to-30ms-goal")
	})

	// In process and in a worker alternately, for the ratio of the two.
	b.Run("compare", func(b *testing.B) {
		x := newExecutor(b)
		w := newPooled(b, 1)
		mustRun(b, x, tk)
		mustRun(b, w, tk)
		var in, wk []time.Duration
		for b.Loop() {
			start := time.Now()
			mustRun(b, x, tk)
			in = append(in, time.Since(start))
			start = time.Now()
			mustRun(b, w, tk)
			wk = append(wk, time.Since(start))
		}
		b.ReportMetric(p50ms(in), "inprocess-p50-ms")
		b.ReportMetric(p50ms(wk), "worker-p50-ms")
		b.ReportMetric(p50ms(wk)/p50ms(in), "ratio")
	})
}

// BenchmarkTinyModule measures the warm run of a module doing nothing (no
// memory) in process and in a worker: what the IPC of a job costs.
// BigMemory is a module declaring 128 MiB of initial memory, which the
// in-process allocator zeroes and a worker maps.
func BenchmarkTinyModule(b *testing.B) {
	b.Run("empty", func(b *testing.B) {
		benchInOut(b, &exec.Task{ID: "tiny", WASM: &exec.WASMSpec{Module: module(funcs(1), exportStart, code([]byte{0x00}))}})
	})
	b.Run("bigmemory", func(b *testing.B) {
		benchInOut(b, &exec.Task{ID: "big", WASM: &exec.WASMSpec{Module: bigMemoryModule}, Limits: exec.Limits{MemoryBytes: 256 << 20}})
	})
}

func benchInOut(b *testing.B, tk *exec.Task) {
	x := newExecutor(b)
	w := newPooled(b, 1)
	mustRun(b, x, tk)
	mustRun(b, w, tk)
	var in, wk []time.Duration
	for b.Loop() {
		start := time.Now()
		mustRun(b, x, tk)
		in = append(in, time.Since(start))
		start = time.Now()
		mustRun(b, w, tk)
		wk = append(wk, time.Since(start))
	}
	b.ReportMetric(p50ms(in)*1000, "inprocess-p50-us")
	b.ReportMetric(p50ms(wk)*1000, "worker-p50-us")
	b.ReportMetric(p50ms(wk)/p50ms(in), "ratio")
}

// BenchmarkSpinTimeout runs a module spinning forever with a 1 s timeout,
// in a worker (killed) and in process (WithCloseOnContextDone), and
// reports how long Run took. Goal: <= 1.1 s (ratio to the timeout <= 1.1).
func BenchmarkSpinTimeout(b *testing.B) {
	const timeout = time.Second
	tk := &exec.Task{ID: "spin", WASM: &exec.WASMSpec{Module: spinModule}, Timeout: timeout}
	for _, c := range []struct {
		name string
		x    func() *wasm.Executor
	}{
		{"worker", func() *wasm.Executor { return newPooled(b, 1) }},
		{"inprocess", func() *wasm.Executor { return newExecutor(b) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			x := c.x()
			if err := x.Precompile(context.Background(), tk.WASM); err != nil {
				b.Fatal(err)
			}
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				_, err := x.Run(context.Background(), tk)
				ds = append(ds, time.Since(start))
				if !errors.Is(err, exec.ErrTimeout) {
					b.Fatalf("error = %v, want ErrTimeout", err)
				}
			}
			b.ReportMetric(p50ms(ds), "p50-ms/op")
			b.ReportMetric(float64(slices.Max(ds))/float64(time.Millisecond), "max-ms")
			b.ReportMetric(float64(slices.Max(ds))/float64(timeout), "ratio")
		})
	}
}

// BenchmarkSHA256 hashes 64 MiB of generated data with examples/sha256sum
// run through the executor and, alternately, by bare wazero runtimes in
// this process: one with wazero's defaults and one with
// WithCloseOnContextDone like the executor's, to tell the cost of being
// stoppable from the executor's own, and through a worker process (whose
// runtime has no WithCloseOnContextDone). Goal: ratio-worker (worker /
// bare) <= 1.05. Native Go is measured separately for information.
func BenchmarkSHA256(b *testing.B) {
	const mib = "64"
	ctx := context.Background()
	path := example(b, "sha256sum")
	code, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	tk := &exec.Task{ID: "bench", WASM: &exec.WASMSpec{ModulePath: path}, Args: []string{"-gen", mib}}

	b.Run("wasm", func(b *testing.B) {
		x, err := wasm.New(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer x.Close()
		mustRun(b, x, tk)
		w := newPooled(b, 1)
		mustRun(b, w, tk)
		bare := newBare(b, code, wazero.NewRuntimeConfig())
		bareStoppable := newBare(b, code, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
		var ex, wk, ba, bs []time.Duration
		for b.Loop() {
			start := time.Now()
			mustRun(b, x, tk)
			ex = append(ex, time.Since(start))
			start = time.Now()
			mustRun(b, w, tk)
			wk = append(wk, time.Since(start))
			ba = append(ba, bare(mib))
			bs = append(bs, bareStoppable(mib))
		}
		b.ReportMetric(p50ms(ex), "exec-p50-ms")
		b.ReportMetric(p50ms(wk), "worker-p50-ms")
		b.ReportMetric(p50ms(wk)/p50ms(ba), "ratio-worker")
		b.ReportMetric(p50ms(ba), "bare-p50-ms")
		b.ReportMetric(p50ms(bs), "bare-closeondone-p50-ms")
		b.ReportMetric(p50ms(ex)/p50ms(ba), "ratio-inprocess")
		b.ReportMetric(p50ms(ex)/p50ms(bs), "ratio-vs-closeondone")
	})

	b.Run("native", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			generated(64)
			ds = append(ds, time.Since(start))
		}
		b.ReportMetric(p50ms(ds), "p50-ms/op")
	})
}

// newBare compiles code in its own runtime and returns a function running
// it with "-gen mib" and returning the time the instantiation took.
func newBare(b *testing.B, code []byte, rc wazero.RuntimeConfig) func(mib string) time.Duration {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	b.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	cm, err := r.CompileModule(ctx, code)
	if err != nil {
		b.Fatal(err)
	}
	return func(mib string) time.Duration {
		var out bytes.Buffer
		start := time.Now()
		mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithArgs("sha256sum", "-gen", mib).WithStdout(&out))
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		mod.Close(ctx)
		if out.Len() == 0 {
			b.Fatal("no output")
		}
		return d
	}
}
