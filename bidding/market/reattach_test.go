package market

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/exec"
)

// TestReattachRetryWakesOnConnection: a requester that restarts while its
// award runs, and that has neither a connection to the executor nor its
// addresses, fails its first Query; the retry goes out as soon as a
// connection to the executor opens. The restarted requester's clock never
// moves, so only the connection can fire the retry (its backoff timer and
// every deadline are on that clock): without the wake-up the job never
// ends. It completes with the one run's receipt and no failover.
func TestReattachRetryWakesOnConnection(t *testing.T) {
	run := newHeldRun()
	ex := newTestPeer(t, run.runner(), nil)

	h, k := newTestHost(t)
	ps := newTestPubSub(t, h)
	content := newTestContent()
	content.h = h
	cfg := Config{Host: h, Key: k, PubSub: ps, Store: dssync.MutexWrap(ds.NewMapDatastore()), Content: content, Runner: &testRunner{},
		Capacity: jobspec.Resources{MilliCPU: 8000, Memory: 8 << 30, Disk: 100 << 30}, Slots: 2, WorkDir: t.TempDir(), BidWindow: time.Second}
	first, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, h, ex.h)
	waitTopic(t, first, 1)
	id := submitRunning(t, first, "reattach-on-connection", run.started)

	// The requester stops; the restarted one has no connection to the
	// executor and no address for it, as after a kill -9 and a start.
	first.Close()
	h.Peerstore().ClearAddrs(ex.h.ID())
	_ = h.Network().ClosePeer(ex.h.ID())
	clock := &manualClock{now: time.Now()}
	cfg.Clock = clock
	second, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	waitEvent(t, second, id.String(), "re-attach to ")
	connect(t, h, ex.h) // back on the network: the retry goes out now
	close(run.release)  // the receipt comes back on the retried Query
	j := waitJob(t, second, id, 30*time.Second)
	if j.State != Completed || len(j.Receipts) != 1 || len(j.Late) != 0 || run.runs.Load() != 1 {
		t.Fatalf("job %s, %d receipt(s), %d late, %d run(s); events:\n%s", j.State, len(j.Receipts), len(j.Late), run.runs.Load(), eventsText(j))
	}
	for _, aw := range j.Awards {
		if aw.State == "lost" {
			t.Fatalf("award %s lost (%s): the restarted requester failed over; events:\n%s", aw.ID, aw.Error, eventsText(j))
		}
	}
}

// waitState polls the job record until it is in state s.
func waitState(t *testing.T, m *Market, id string, s State) {
	t.Helper()
	waitRecord(t, m, id, func(j *Job) bool { return j.State == s }, "state "+string(s))
}

// waitEvent polls the job record until an event's message holds part.
func waitEvent(t *testing.T, m *Market, id, part string) {
	t.Helper()
	waitRecord(t, m, id, func(j *Job) bool {
		for _, e := range j.Events {
			if strings.Contains(e.Message, part) {
				return true
			}
		}
		return false
	}, "an event with "+part)
}

func waitRecord(t *testing.T, m *Market, id string, ok func(*Job) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := m.Jobs().Get(id)
		if err == nil && ok(j) {
			return
		}
		if time.Now().After(deadline) {
			text := ""
			if j != nil {
				text = eventsText(j)
			}
			t.Fatalf("job %s: no %s within 30s; events:\n%s", id, what, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// submitRunning submits a one-minute test job named name on m and waits
// until the executor's run started (started receives) and m's record
// says running.
// heldRun is an executor's runner whose runs signal started and then hold
// until release closes (or their context ends).
type heldRun struct {
	started chan struct{}
	release chan struct{}
	runs    atomic.Int64
}

func newHeldRun() *heldRun {
	return &heldRun{started: make(chan struct{}, 1), release: make(chan struct{})}
}

func (r *heldRun) runner() *testRunner {
	return &testRunner{engines: []string{exec.EngineWASM}, run: func(ctx context.Context, _ *exec.Task) (*exec.Result, error) {
		r.runs.Add(1)
		r.started <- struct{}{}
		select {
		case <-r.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &exec.Result{Stdout: []byte("ok\n")}, nil
	}}
}

func submitRunning(t *testing.T, m *Market, name string, started <-chan struct{}) cid.Cid {
	t.Helper()
	id, _, err := m.Submit(context.Background(), testJobSpec(name, func(s *jobspec.Spec) { s.Timeout = time.Minute }))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the job never ran on the executor")
	}
	waitState(t, m, id.String(), Running)
	return id
}
