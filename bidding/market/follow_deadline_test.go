package market

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/exec"
)

// hangingRunner is a hostile engine: it ignores the task's timeout and the
// requester's Cancel, so its executor heartbeats forever and never sends a
// receipt. started is closed when a run starts, cancelled when the
// executor's run context ends (a Cancel arrived). The test releases it
// (t.Cleanup after the executor's market, so that it runs before the
// market's Close).
type hangingRunner struct {
	started, cancelled chan struct{}
	release            chan struct{}
	once, cancelOnce   sync.Once
}

func newHangingRunner(t *testing.T) *testRunner {
	h := &hangingRunner{started: make(chan struct{}), cancelled: make(chan struct{}), release: make(chan struct{})}
	return &testRunner{engines: []string{exec.EngineWASM}, run: func(ctx context.Context, _ *exec.Task) (*exec.Result, error) {
		h.once.Do(func() { close(h.started) })
		select {
		case <-ctx.Done():
			h.cancelOnce.Do(func() { close(h.cancelled) })
		case <-h.release:
		}
		<-h.release // never answers, even once cancelled
		return nil, errors.New("released")
	}, hang: h}
}

// TestFollowDeadlineCancelsHeartbeatingExecutor: an executor that accepts
// and heartbeats forever holds the job only until accept + spec.timeout +
// the publish grace; the requester then cancels it and fails over to
// another bidder.
func TestFollowDeadlineCancelsHeartbeatingExecutor(t *testing.T) {
	const timeout, grace = time.Second, time.Second
	noEngine := &testRunner{} // the requester does not bid on its own job
	req := newTestPeer(t, noEngine, func(c *Config) { c.PublishGrace = grace })
	hostile := newHangingRunner(t)
	bad := newTestPeer(t, hostile, nil)
	t.Cleanup(func() { close(hostile.hang.release) })
	connect(t, req.h, bad.h)
	waitTopic(t, req.m, 1)

	spec := testJobSpec("held-forever", func(s *jobspec.Spec) { s.Timeout = timeout })
	id, _, err := req.m.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-hostile.hang.started:
	case <-time.After(60 * time.Second):
		j, _ := req.m.Jobs().Get(id.String())
		t.Fatalf("the hostile executor never started the job:\n%s", eventsText(j))
	}
	// An honest executor joins after the hostile one won the first round.
	good := newTestPeer(t, nil, nil)
	connect(t, req.h, good.h)
	waitTopic(t, req.m, 2)

	j := waitJob(t, req.m, id, 90*time.Second)
	if j.State != Completed || len(j.Receipts) != 1 || j.Receipts[0].Executor != good.h.ID().String() {
		t.Fatalf("job %s (%s), receipts %+v:\n%s", j.State, j.Error, j.Receipts, eventsText(j))
	}
	var held *AwardInfo
	for i := range j.Awards {
		if j.Awards[i].Executor == bad.h.ID().String() {
			held = &j.Awards[i]
		}
	}
	if held == nil || held.State != "lost" || !strings.Contains(held.Error, "run overdue") {
		t.Fatalf("award to the heartbeating executor: %+v", held)
	}
	// It was given up at its deadline, not before.
	var lostAt time.Time
	for _, e := range j.Events {
		if e.Type == "error" && e.Peer == bad.h.ID().String() {
			lostAt = e.Time
		}
	}
	if due := held.Accepted.Add(timeout + grace); lostAt.Before(due) {
		t.Fatalf("award lost at %s, before its deadline %s", lostAt.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano))
	}
	select {
	case <-hostile.hang.cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the requester gave up without sending Cancel to the executor")
	}
}

// TestFollowDeadlineFailsWithoutOtherBid: with nobody else to award, the
// job fails at its queue timeout and says that the award overran.
func TestFollowDeadlineFailsWithoutOtherBid(t *testing.T) {
	req := newTestPeer(t, &testRunner{}, func(c *Config) { c.PublishGrace = time.Second })
	hostile := newHangingRunner(t)
	bad := newTestPeer(t, hostile, nil)
	t.Cleanup(func() { close(hostile.hang.release) })
	connect(t, req.h, bad.h)
	waitTopic(t, req.m, 1)
	spec := testJobSpec("held-alone", func(s *jobspec.Spec) {
		s.Timeout = time.Second
		s.QueueTimeout = 6 * time.Second
	})
	id, _, err := req.m.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, req.m, id, 90*time.Second)
	if j.State != Failed || !strings.Contains(j.Error, "run overdue") {
		t.Fatalf("job %s (%s):\n%s", j.State, j.Error, eventsText(j))
	}
}
