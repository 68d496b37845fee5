package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// TestFailoverAfterSilentPartition: the executor of a running job is cut
// off silently (nftables drops every packet of its swarm sockets on
// loopback; no connection closes). The requester fails over by missed
// heartbeats, not by an event, to the other worker; once the partition
// heals, the Cancel of the superseded award reaches the cut executor,
// whose run stops, and its cancelled receipt is recorded on the job as a
// late receipt that does not settle it. The market test
// TestFailoverCancelsSilentExecutor checks the same with a stream shim;
// this one with real daemons and a real partition.
func TestFailoverAfterSilentPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("partitions an executor mid-job")
	}
	ds := jobNet(t, 3, nil, []string{"role=worker"}, []string{"role=worker"})
	a := ds[0]
	sleep := testnet.WasmModule(t, "internal/testnet/wasm/sleep")
	// Long enough that the late receipt comes while the newer award runs:
	// the job is cancelled once it came.
	res, err := a.Client.Submit(context.Background(), []byte(jobSpecWithModule(t, a, sleep, "failover-partition", "90s", "role: worker")), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var mu sync.Mutex
	var cut *testnet.Daemon
	var part *testnet.Partition
	var cutAt time.Time
	var took time.Duration
	late := ""
	final, err := a.Client.Events(ctx, res.ID, func(e api.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case cut == nil && strings.HasPrefix(e.Message, "running on "):
			for _, d := range ds[1:] {
				if d.ID == e.Peer {
					cut, part = d, testnet.Cut(t, d)
					cutAt = time.Now()
				}
			}
		case cut != nil && took == 0 && strings.HasPrefix(e.Message, "awarded to "):
			took = time.Since(cutAt)
			if e.Peer == cut.ID {
				t.Errorf("re-awarded to the cut executor: %s", e.Message)
			}
			if err := part.Heal(); err != nil {
				t.Error(err)
			}
		case cut != nil && late == "" && e.Peer == cut.ID && strings.Contains(e.Message, "late receipt"):
			late = e.Message
			if err := a.Client.CancelJob(ctx, res.ID); err != nil {
				t.Errorf("cancel the job: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if cut == nil || took == 0 {
		t.Fatalf("no re-award after the partition (cut %v):\n%s", cut != nil, eventText(final))
	}
	t.Logf("silent partition of the executor -> re-award: %s (heartbeat deadline %s)", took.Round(time.Millisecond), bidding.HeartbeatInterval*bidding.MissedHeartbeats)
	// Nothing closed: the award was lost by silence.
	lost := ""
	for _, aw := range final.Awards {
		if aw.Executor == cut.ID {
			lost = aw.State + ": " + aw.Error
		}
	}
	if !strings.HasPrefix(lost, "lost: ") || !strings.Contains(lost, "no heartbeat") {
		t.Fatalf("award to the cut executor %q, want lost by missed heartbeats:\n%s", lost, eventText(final))
	}
	// The Cancel reached it after the heal: its run stopped, and its
	// receipt says so without settling the job.
	if late == "" || !strings.Contains(late, "does not settle the job") {
		t.Fatalf("late receipt event %q:\n%s", late, eventText(final))
	}
	if len(final.Late) != 1 || final.Late[0].Executor != cut.ID || !strings.HasPrefix(final.Late[0].Error, "cancelled") {
		t.Fatalf("late receipts %+v", final.Late)
	}
	for _, r := range final.Receipts {
		if r.Executor == cut.ID {
			t.Fatalf("the cut executor's receipt settled the job: %+v", final.Receipts)
		}
	}
	if final.State != api.JobCancelled {
		t.Fatalf("job %s (%s), want cancelled by the test:\n%s", final.State, final.Error, eventText(final))
	}
}

func eventText(j *api.Job) string {
	if j == nil {
		return ""
	}
	var b strings.Builder
	for _, e := range j.Events {
		b.WriteString(e.Time.Format("15:04:05.000") + " " + e.Peer + " " + e.Message + "\n")
	}
	return b.String()
}
