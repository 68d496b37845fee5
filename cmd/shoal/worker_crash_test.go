package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec/wasm"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// A WASM worker process killed from outside while it runs a job (the
// kernel's OOM killer picking it, an operator's kill -9) fails that award
// with worker_crashed, a retryable code: the requester awards the job to
// the next bidder and it completes there; the daemon of the crashed worker
// lives on.
func TestJobWorkerCrashFailsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a WASM worker process mid-job")
	}
	ds := jobNet(t, 3, nil, []string{"role=worker"}, []string{"role=worker"})
	a := ds[0]
	sleep := testnet.WasmModule(t, "internal/testnet/wasm/sleep")
	res, err := a.Client.Submit(context.Background(), []byte(jobSpecWithModule(t, a, sleep, "worker-crash", "4s", "role: worker")), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	crashed, killedWorkers := "", 0
	final, err := a.Client.Events(ctx, res.ID, func(e api.Event) {
		mu.Lock()
		defer mu.Unlock()
		if crashed != "" || !strings.HasPrefix(e.Message, "running on ") {
			return
		}
		for _, d := range ds[1:] {
			if d.ID == e.Peer {
				crashed = d.ID
				killedWorkers = killWorkers(t, d.PID())
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if crashed == "" || killedWorkers == 0 {
		t.Fatalf("the job never ran on a worker process (executor %q, %d workers killed)", crashed, killedWorkers)
	}
	if final.State != api.JobCompleted {
		t.Fatalf("job %s after its worker crashed: %s (%s)", final.ID, final.State, final.Error)
	}
	if len(final.Receipts) != 1 || final.Receipts[0].Executor == crashed {
		t.Fatalf("receipts %+v: want one, not from %s", final.Receipts, crashed)
	}
	found := false
	for _, aw := range final.Awards {
		if aw.Executor == crashed {
			found = aw.State == "failed" && aw.ErrorCode == "worker_crashed"
			if !found {
				t.Errorf("award to the crashed executor: state %s code %q (%s), want failed worker_crashed", aw.State, aw.ErrorCode, aw.Error)
			}
		}
	}
	if !found {
		t.Fatalf("no award to %s in %+v", crashed, final.Awards)
	}
	for _, d := range ds[1:] {
		if d.ID == crashed {
			if _, err := d.Client.ID(ctx); err != nil {
				t.Fatalf("the daemon whose worker crashed does not answer: %v", err)
			}
		}
	}
}

// killWorkers sends SIGKILL to every WASM worker process whose parent is
// the daemon pid and returns how many it killed.
func killWorkers(t *testing.T, daemon int) int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, stat := range procs {
		b, err := os.ReadFile(stat)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(daemon) {
			continue
		}
		dir := filepath.Dir(stat)
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), wasm.WorkerCommand) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}
