package wasm_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/exectest"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/wasm"
)

// workerEnv makes the test binary a worker process (see TestMain).
const workerEnv = "SHOAL_WASM_TEST_WORKER"

// selfWorker re-executes this test binary as a worker.
func selfWorker(t testing.TB) wasm.WorkerCmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return wasm.WorkerCmd{Path: exe, Env: []string{workerEnv + "=1"}}
}

// newPooled returns an executor running modules in n worker processes of
// this test binary.
func newPooled(t testing.TB, n int, opts ...wasm.Option) *wasm.Executor {
	t.Helper()
	base := []wasm.Option{wasm.WithWorkers(n, selfWorker(t))}
	if raceEnabled {
		base = append(base, wasm.WithWorkerAddressSpace(0)) // the race detector maps terabytes
	}
	return newExecutor(t, append(base, opts...)...)
}

func killWorkers(t *testing.T, x exec.Executor) {
	pids := wasm.WorkerPIDs(x.(*wasm.Executor))
	if len(pids) == 0 {
		t.Fatal("no worker process")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConformanceWorkers(t *testing.T) {
	exectest.Run(t, exectest.Harness{
		New: func(t *testing.T) exec.Executor {
			return newPooled(t, 4, wasm.WithCacheDir(cacheDir))
		},
		Program: func(t *testing.T) *exec.Task {
			return &exec.Task{WASM: &exec.WASMSpec{ModulePath: testprog.WASM(t)}}
		},
		StopWithin:      100 * time.Millisecond,
		KillWorkers:     killWorkers,
		WorkerKilledErr: wasm.ErrWorkerCrashed,
	})
}
