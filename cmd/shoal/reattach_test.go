package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// TestReattachAfterRequesterKill: a requester killed (kill -9) while an
// executor runs its job, and started again, re-attaches to the award by
// Query once it is back on the network (docs/protocol.md §4, "A requester
// that restarts"): its first Query goes out before it has reconnected and
// fails, which is no proof the executor is gone. The job completes with
// exactly one execution over all executors and no late receipt. The
// restarted requester bootstraps to the other worker, so it has to find
// the executor again.
func TestReattachAfterRequesterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a requester mid-job and restarts it")
	}
	ds := jobNet(t, 3, nil, []string{"role=worker"}, []string{"role=worker"})
	a := ds[0]
	sleep := testnet.WasmModule(t, "internal/testnet/wasm/sleep")
	spec := jobSpecWithModule(t, a, sleep, "reattach", "8s", "role: worker") + "reuse: never\n"
	before := executions(t, ds)
	res, err := a.Client.Submit(context.Background(), []byte(spec), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ectx, stop := context.WithCancel(ctx)
	exec := ""
	_, _ = a.Client.Events(ectx, res.ID, func(e api.Event) {
		if exec == "" && strings.HasPrefix(e.Message, "running on ") {
			exec = e.Peer
			stop()
		}
	})
	stop()
	var ex, other *testnet.Daemon
	for _, d := range ds[1:] {
		if d.ID == exec {
			ex = d
		} else {
			other = d
		}
	}
	if ex == nil {
		t.Fatalf("job %s never ran on a worker (executor %q)", res.ID, exec)
	}
	a.Kill()
	if err := a.Restart([]string{other.TCPAddr()}); err != nil {
		t.Fatal(err)
	}
	final, err := a.Client.Events(ctx, res.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The job's log (shown with -v or on failure) says how the restarted
	// requester re-attached: its failed Query and the retry that answered.
	for _, e := range final.Events {
		t.Logf("%s %s %s", e.Time.Format("15:04:05.000"), e.Type, e.Message)
	}
	if final.State != api.JobCompleted || len(final.Receipts) != 1 || final.Receipts[0].Executor != ex.ID {
		t.Fatalf("after the requester restarted: %s (%s), receipts %+v, want one from %s", final.State, final.Error, final.Receipts, ex.ID)
	}
	if len(final.Late) != 0 {
		t.Fatalf("late receipts %+v: the job ran again after the restart", final.Late)
	}
	for _, aw := range final.Awards {
		if aw.State == "lost" {
			t.Fatalf("award %s to %s lost (%s): the restarted requester failed over", aw.ID, aw.Executor, aw.Error)
		}
	}
	after := executions(t, ds)
	for _, d := range ds {
		want := int64(0)
		if d == ex {
			want = 1
		}
		if got := after[d.ID] - before[d.ID]; got != want {
			t.Errorf("%s executed %d jobs, want %d (one execution, on %s)", d.ID, got, want, ex.ID)
		}
	}
}
