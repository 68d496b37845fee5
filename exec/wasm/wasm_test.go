package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/exectest"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/wasm"
)

// cacheDir is shared by the executors of this test binary so that the
// conformance program is compiled once.
var cacheDir string

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" { // re-executed as a worker process
		if err := wasm.ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "wasm worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(parentEnv) != "" {
		runParent()
	}
	d, err := os.MkdirTemp("", "shoal-wasm-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = d
	code := m.Run()
	testprog.Cleanup()
	os.RemoveAll(d)
	os.Exit(code)
}

func newExecutor(t testing.TB, opts ...wasm.Option) *wasm.Executor {
	t.Helper()
	x, err := wasm.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func TestConformance(t *testing.T) {
	exectest.Run(t, exectest.Harness{
		New: func(t *testing.T) exec.Executor {
			return newExecutor(t, wasm.WithCacheDir(cacheDir))
		},
		Program: func(t *testing.T) *exec.Task {
			return &exec.Task{WASM: &exec.WASMSpec{ModulePath: testprog.WASM(t)}}
		},
		StopWithin: 100 * time.Millisecond,
	})
}

// Hand-assembled modules, so the tests need no toolchain beyond Go.
var (
	// trapModule exports _start, which executes `unreachable`.
	trapModule = []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm v1
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
		0x03, 0x02, 0x01, 0x00, // func 0: type 0
		0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export "_start" func 0
		0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // code: unreachable end
	}
	// bigMemoryModule declares (memory 2048) = 128 MiB, exported as "memory", and an empty _start.
	bigMemoryModule = []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
		0x03, 0x02, 0x01, 0x00,
		0x05, 0x04, 0x01, 0x00, 0x80, 0x10, // memory: min 2048 pages (LEB128 0x80 0x10)
		0x07, 0x13, 0x02,
		0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00,
		0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00,
		0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: end
	}
)

func TestInvalidModule(t *testing.T) {
	x := newExecutor(t)
	for _, c := range []struct {
		name string
		spec exec.WASMSpec
	}{
		{"garbage", exec.WASMSpec{Module: []byte("this is not wasm")}},
		{"truncated", exec.WASMSpec{Module: trapModule[:20]}},
		{"missing entrypoint", exec.WASMSpec{Module: trapModule, Entrypoint: "main"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := x.Run(context.Background(), &exec.Task{ID: "bad", WASM: &c.spec})
			if !errors.Is(err, exec.ErrInvalidModule) || res != nil {
				t.Fatalf("Run = %v, %v; want nil, ErrInvalidModule", res, err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := x.Run(context.Background(), &exec.Task{WASM: &exec.WASMSpec{ModulePath: filepath.Join(t.TempDir(), "nope.wasm")}})
		if !errors.Is(err, exec.ErrInvalidTask) {
			t.Fatalf("error = %v, want ErrInvalidTask", err)
		}
	})
}

// A trap is the module's failure, not Run's: exit code 134, the trap's
// message at the end of stderr and in Result.Trap (which the market turns
// into the receipt code trap), in the daemon and in a worker process alike.
func TestTrap(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    func(t *testing.T) *wasm.Executor
	}{
		{"in process", func(t *testing.T) *wasm.Executor { return newExecutor(t) }},
		{"worker", func(t *testing.T) *wasm.Executor { return newPooled(t, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tc.x(t)
			res, err := x.Run(context.Background(), &exec.Task{ID: "trap", WASM: &exec.WASMSpec{Module: trapModule}, StderrCap: 1})
			if err != nil {
				t.Fatalf("a trap must not be an error of Run, got %v", err)
			}
			if res.ExitCode != wasm.ExitCodeTrap {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, wasm.ExitCodeTrap)
			}
			if !strings.Contains(string(res.Stderr), "wasm trap: wasm error: unreachable") {
				t.Errorf("Stderr = %q, want the trap message", res.Stderr)
			}
			if !strings.Contains(res.Trap, "unreachable") {
				t.Errorf("Trap = %q, want the trap's message", res.Trap)
			}
			ok, err := x.Run(context.Background(), &exec.Task{ID: "exits", WASM: &exec.WASMSpec{Module: module(funcs(1), exportStart, code([]byte{0x00}))}})
			if err != nil || ok.Trap != "" {
				t.Errorf("a module that exits: Trap %q, err %v; want none", ok.Trap, err)
			}
		})
	}
}

func TestInitialMemoryOverLimit(t *testing.T) {
	x := newExecutor(t)
	task := &exec.Task{ID: "big", WASM: &exec.WASMSpec{Module: bigMemoryModule}, Limits: exec.Limits{MemoryBytes: 64 << 20}}
	if _, err := x.Run(context.Background(), task); !errors.Is(err, exec.ErrMemoryLimit) {
		t.Fatalf("error = %v, want ErrMemoryLimit", err)
	}
	task.Limits.MemoryBytes = 256 << 20
	if res, err := x.Run(context.Background(), task); err != nil || res.ExitCode != 0 {
		t.Fatalf("Run under a large enough limit = %+v, %v", res, err)
	}
	task.Limits.MemoryBytes = wasm.DefaultMaxMemory + 1
	if _, err := x.Run(context.Background(), task); !errors.Is(err, exec.ErrInvalidTask) {
		t.Fatalf("error = %v, want ErrInvalidTask for a limit above the executor's maximum", err)
	}
}

func TestMemoryBombStopsAtLimit(t *testing.T) {
	x := newExecutor(t, wasm.WithCacheDir(cacheDir))
	const limit = 48 << 20
	res, err := x.Run(context.Background(), &exec.Task{
		ID:      "bomb",
		WASM:    &exec.WASMSpec{ModulePath: testprog.WASM(t)},
		Args:    []string{"alloc", "4"},
		Limits:  exec.Limits{MemoryBytes: limit},
		Timeout: time.Minute,
	})
	if !errors.Is(err, exec.ErrMemoryLimit) {
		t.Fatalf("error = %v, want ErrMemoryLimit", err)
	}
	if !strings.Contains(err.Error(), "limit 50331648 bytes") {
		t.Errorf("error %q does not state the limit", err)
	}
	if res == nil || res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "fatal error") {
		t.Fatalf("Result = %v, want the partial result of a Go runtime fatal error", res)
	}
	t.Logf("exit %d, stderr starts %q", res.ExitCode, res.Stderr[:min(len(res.Stderr), 60)])
}

func TestInfiniteLoopTimeout(t *testing.T) {
	x := newExecutor(t, wasm.WithCacheDir(cacheDir))
	res, err := x.Run(context.Background(), &exec.Task{
		ID:      "loop",
		WASM:    &exec.WASMSpec{ModulePath: testprog.WASM(t)},
		Args:    []string{"spin"},
		Timeout: 500 * time.Millisecond,
	})
	if !errors.Is(err, exec.ErrTimeout) || errors.Is(err, exec.ErrKilled) {
		t.Fatalf("error = %v, want ErrTimeout (and not ErrKilled)", err)
	}
	if res == nil || res.ExitCode == 0 {
		t.Errorf("Result = %+v, want a partial result with a non-zero exit code", res)
	}
}

func TestCompileCache(t *testing.T) {
	dir := t.TempDir()
	// A tiny module keeps the test fast under -race, where compiling is slow.
	hello := &exec.Task{ID: "hello", WASM: &exec.WASMSpec{Module: bigMemoryModule}, Limits: exec.Limits{MemoryBytes: 256 << 20}}

	x := newExecutor(t, wasm.WithCacheDir(dir))
	for i := range 2 {
		if res, err := x.Run(context.Background(), hello); err != nil || res.ExitCode != 0 {
			t.Fatalf("run %d: %+v, %v", i, res, err)
		}
	}
	if got, want := x.Stats(), (wasm.Stats{Runs: 2, Compiles: 1, CacheHits: 1, CachedModules: 1}); got != want {
		t.Errorf("first executor: Stats() = %+v, want %+v", got, want)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	// A new executor on the same directory (a restarted node) loads the
	// machine code from disk.
	y := newExecutor(t, wasm.WithCacheDir(dir))
	if res, err := y.Run(context.Background(), hello); err != nil || res.ExitCode != 0 {
		t.Fatalf("after restart: %+v, %v", res, err)
	}
	if got, want := y.Stats(), (wasm.Stats{Runs: 1, Compiles: 1, DiskCacheHits: 1, CachedModules: 1}); got != want {
		t.Errorf("after restart: Stats() = %+v, want %+v", got, want)
	}
}

func TestCacheEviction(t *testing.T) {
	x := newExecutor(t, wasm.WithMaxCachedModules(1))
	a := &exec.Task{WASM: &exec.WASMSpec{Module: trapModule}}
	b := &exec.Task{WASM: &exec.WASMSpec{Module: bigMemoryModule}, Limits: exec.Limits{MemoryBytes: 256 << 20}}
	for _, tk := range []*exec.Task{a, b, a} {
		if _, err := x.Run(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	if got := x.Stats(); got.Compiles != 3 || got.CacheHits != 0 || got.CachedModules != 1 {
		t.Errorf("Stats() = %+v, want 3 compiles, 0 hits, 1 cached module", got)
	}
}

func TestPrecompile(t *testing.T) {
	x := newExecutor(t)
	if err := x.Precompile(context.Background(), &exec.WASMSpec{Module: trapModule}); err != nil {
		t.Fatal(err)
	}
	if err := x.Precompile(context.Background(), &exec.WASMSpec{Module: trapModule, Entrypoint: "nope"}); !errors.Is(err, exec.ErrInvalidModule) {
		t.Errorf("error = %v, want ErrInvalidModule", err)
	}
	if _, err := x.Run(context.Background(), &exec.Task{WASM: &exec.WASMSpec{Module: trapModule}}); err != nil {
		t.Fatal(err)
	}
	if got := x.Stats(); got.Compiles != 1 || got.CacheHits != 2 {
		t.Errorf("Stats() = %+v, want 1 compile and 2 cache hits", got)
	}
}

// TestDeterministic runs detprog (time, random bytes, a sleep's length,
// map order) in process and in worker processes: deterministic runs agree
// with each other and across the two paths, the seed picks the random
// bytes, and a run that is not deterministic differs (so the check can
// fail).
func TestDeterministic(t *testing.T) {
	mod := testprog.Build(t, testprog.DetProg, "wasip1", "wasm")
	engines := map[string]*wasm.Executor{
		"in process": newExecutor(t, wasm.WithCacheDir(cacheDir)),
		"workers":    newPooled(t, 1, wasm.WithCacheDir(cacheDir)),
	}
	run := func(x *wasm.Executor, det bool, seed [32]byte) string {
		t.Helper()
		res, err := x.Run(context.Background(), &exec.Task{
			WASM: &exec.WASMSpec{ModulePath: mod, Deterministic: det, Seed: seed},
		})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Run = %+v, %v", res, err)
		}
		return string(res.Stdout)
	}
	seed := [32]byte{1}
	want := run(engines["in process"], true, seed)
	for name, x := range engines {
		t.Run(name, func(t *testing.T) {
			a, b := run(x, true, seed), run(x, true, seed)
			if a != b || a != want {
				t.Errorf("deterministic runs differ:\n%s\n%s\nin process:\n%s", a, b, want)
			}
			if epoch := time.Unix(wasm.DeterministicEpoch, 0).UTC().Format("2006-01-02T15:04:05"); !strings.HasPrefix(a, "time "+epoch) {
				t.Errorf("deterministic wall clock = %q, want it to start at %s", a, epoch)
			}
			if !strings.Contains(a, "slept 10.0") {
				t.Errorf("deterministic sleep of 10ms read as %q, want the clock moved by exactly the sleep (plus ticks)", a)
			}
			if o := run(x, true, [32]byte{2}); o == a {
				t.Errorf("another seed drew the same bytes: %q", o)
			}
			if c := run(x, false, seed); c == a {
				t.Errorf("non-deterministic run equals the deterministic one: %q", c)
			}
		})
	}
}
