package market

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/exec"
)

// Tests of the promises of docs/protocol.md about awards the requester
// loses: each fault is caused for real on the libp2p streams of real hosts
// (a stream reset, or a partition: the executor's frames swallowed on its
// real stream and its incoming ones held until it heals).

// dropFirstWrite resets the award stream instead of writing the
// executor's first frame (its Accept) when drop is still armed: the award
// is stored and runs, the requester never sees the Accept.
type dropFirstWrite struct {
	network.Stream
	armed *atomic.Bool
	first bool
}

func (s *dropFirstWrite) Write(b []byte) (int, error) {
	if !s.first {
		s.first = true
		if s.armed.CompareAndSwap(true, false) {
			_ = s.Stream.Reset()
			return 0, network.ErrReset
		}
	}
	return s.Stream.Write(b)
}

// countingRunner counts the runs started on any of the executors using it.
func countingRunner(runs *atomic.Int64) *testRunner {
	return &testRunner{engines: []string{exec.EngineWASM}, run: func(ctx context.Context, _ *exec.Task) (*exec.Result, error) {
		runs.Add(1)
		return &exec.Result{Stdout: []byte("ok\n")}, nil
	}}
}

// TestLostAcceptQueriesBeforeFailover: the award stream is reset by the
// executor right after it stored (accepted) the award, so the Accept never
// reaches the requester. The requester asks the executor (Query), finds
// the award running and follows it: one award, one run, one receipt for a
// job of count 1, though another bidder was there to fail over to.
func TestLostAcceptQueriesBeforeFailover(t *testing.T) {
	var runs atomic.Int64
	var armed atomic.Bool
	armed.Store(true)
	req := newTestPeer(t, &testRunner{}, nil)
	var execs []*testPeer
	for range 2 {
		p := newTestPeer(t, countingRunner(&runs), nil)
		p.h.SetStreamHandler(bidding.ProtocolAward, func(s network.Stream) {
			p.m.exec.serveAward(&dropFirstWrite{Stream: s, armed: &armed}, s.Conn().RemotePeer())
		})
		connect(t, req.h, p.h)
		execs = append(execs, p)
	}
	waitTopic(t, req.m, 2)
	id, _, err := req.m.Submit(context.Background(), testJobSpec("lost-accept"))
	if err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, req.m, id, 60*time.Second)
	if armed.Load() {
		t.Fatalf("no Accept was dropped:\n%s", eventsText(j))
	}
	if j.State != Completed || len(j.Receipts) != 1 {
		t.Fatalf("job %s (%s), receipts %+v:\n%s", j.State, j.Error, j.Receipts, eventsText(j))
	}
	if len(j.Awards) != 1 {
		t.Fatalf("%d awards, want 1 (re-attached by Query, no failover): %+v\n%s", len(j.Awards), j.Awards, eventsText(j))
	}
	// Both executors are idle now: no second run can still be on its way.
	for _, p := range execs {
		waitIdle(t, p.m)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the job ran %d times, want exactly 1:\n%s", n, eventsText(j))
	}
}

// waitIdle waits until m runs and queues nothing.
func waitIdle(t *testing.T, m *Market) {
	t.Helper()
	m.exec.mu.Lock()
	var live []*execution
	for _, e := range m.exec.execs {
		live = append(live, e)
	}
	m.exec.mu.Unlock()
	for _, e := range live {
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("award %s still runs", e.rec.ID)
		}
	}
}

// partition cuts an executor off from its requesters for real, on its
// real streams: once the executor wrote its first frame on an award stream
// (the Accept), its frames are swallowed and what the requester writes is
// held until heal; ProtocolReceipt streams are reset until heal.
type partition struct {
	healed chan struct{}
	once   sync.Once
}

func newPartition() *partition { return &partition{healed: make(chan struct{})} }

func (p *partition) heal() { p.once.Do(func() { close(p.healed) }) }

func (p *partition) cut() bool {
	select {
	case <-p.healed:
		return false
	default:
		return true
	}
}

// install replaces the executor's award and receipt handlers.
func (p *partition) install(tp *testPeer) {
	tp.h.SetStreamHandler(bidding.ProtocolAward, func(s network.Stream) {
		tp.m.exec.serveAward(&partitionedStream{Stream: s, p: p}, s.Conn().RemotePeer())
	})
	tp.h.SetStreamHandler(bidding.ProtocolReceipt, func(s network.Stream) {
		if p.cut() {
			_ = s.Reset()
			return
		}
		tp.m.exec.serveQuery(s, s.Conn().RemotePeer())
	})
}

type partitionedStream struct {
	network.Stream
	p        *partition
	accepted atomic.Bool
}

func (s *partitionedStream) Write(b []byte) (int, error) {
	if !s.accepted.Swap(true) {
		return s.Stream.Write(b) // the Accept goes through
	}
	if s.p.cut() {
		return len(b), nil
	}
	return s.Stream.Write(b)
}

func (s *partitionedStream) Read(b []byte) (int, error) {
	if s.accepted.Load() {
		<-s.p.healed
	}
	return s.Stream.Read(b)
}

// blockingRunner runs until its context ends (closing cancelled) or, when
// finish is closed, ends with exit 0. started is closed at the first run.
type blockingRunner struct {
	started, cancelled, finish chan struct{}
	sOnce, cOnce               sync.Once
}

func newBlockingRunner() (*blockingRunner, *testRunner) {
	b := &blockingRunner{started: make(chan struct{}), cancelled: make(chan struct{}), finish: make(chan struct{})}
	return b, &testRunner{engines: []string{exec.EngineWASM}, run: func(ctx context.Context, _ *exec.Task) (*exec.Result, error) {
		b.sOnce.Do(func() { close(b.started) })
		select {
		case <-ctx.Done():
			b.cOnce.Do(func() { close(b.cancelled) })
			return nil, ctx.Err()
		case <-b.finish:
			return &exec.Result{Stdout: []byte("late\n")}, nil
		}
	}}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string, j func() *Job) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not happen:\n%s", what, eventsText(j()))
	}
}

// startOn submits a job and waits until the runner of the only executor
// connected started it.
func startOn(t *testing.T, req *testPeer, br *blockingRunner, name string) cid.Cid {
	t.Helper()
	id, _, err := req.m.Submit(context.Background(), testJobSpec(name))
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, br.started, "the first run", func() *Job { j, _ := req.m.Jobs().Get(id.String()); return j })
	return id
}

// awardTo returns the job's award to the executor p.
func awardTo(j *Job, p *testPeer) *AwardInfo {
	for i := range j.Awards {
		if j.Awards[i].Executor == p.h.ID().String() {
			return &j.Awards[i]
		}
	}
	return nil
}

// TestFailoverCancelsSilentExecutor: an executor cut off after its Accept
// sends no heartbeat; the requester fails over to another executor and
// sends the Cancel of the superseded award, which the executor receives
// once the partition heals: its run stops, and the receipt of that
// cancelled run is recorded on the job as a late receipt without
// changing its outcome.
func TestFailoverCancelsSilentExecutor(t *testing.T) {
	req := newTestPeer(t, &testRunner{}, nil)
	lateRecorded := lateSignal(req.m)
	silentRun, silentRunner := newBlockingRunner()
	silent := newTestPeer(t, silentRunner, nil)
	cut := newPartition()
	cut.install(silent)
	t.Cleanup(cut.heal)
	connect(t, req.h, silent.h)
	waitTopic(t, req.m, 1)
	id := startOn(t, req, silentRun, "silent-executor")
	good := newTestPeer(t, nil, nil)
	connect(t, req.h, good.h)
	waitTopic(t, req.m, 2)

	j := waitJob(t, req.m, id, 90*time.Second)
	if j.State != Completed || len(j.Receipts) != 1 || j.Receipts[0].Executor != good.h.ID().String() {
		t.Fatalf("job %s (%s), receipts %+v:\n%s", j.State, j.Error, j.Receipts, eventsText(j))
	}
	if aw := awardTo(j, silent); aw == nil || aw.State != "lost" {
		t.Fatalf("award to the silent executor: %+v", aw)
	}
	cut.heal()
	get := func() *Job { j, _ := req.m.Jobs().Get(id.String()); return j }
	waitClosed(t, silentRun.cancelled, "the Cancel of the superseded award", get)
	// The cancelled run's receipt comes back to the requester (the answer
	// to its Cancel on ProtocolReceipt): recorded, the outcome unchanged.
	waitClosed(t, lateRecorded, "the late receipt", get)
	late := get().Late
	if len(late) != 1 || late[0].Executor != silent.h.ID().String() || !strings.HasPrefix(late[0].Error, "cancelled") {
		t.Fatalf("late receipts %+v", late)
	}
	if j := get(); j.State != Completed || len(j.Receipts) != 1 {
		t.Fatalf("after the late receipt: job %s, receipts %+v", j.State, j.Receipts)
	}
}

// lateSignal is closed by the requester's market when it recorded a
// late receipt.
func lateSignal(m *Market) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	m.req.lateHook = func(string) { once.Do(func() { close(ch) }) }
	return ch
}

// TestLateReceiptSettlesRunningJob: the superseded executor finishes its
// run during the partition. When it heals, its receipt (the answer to the
// requester's Cancel) is verified and, the job still running under the
// newer award, completes it: the first valid receipt wins, and the newer
// award is cancelled on its executor. The job completes once.
func TestLateReceiptSettlesRunningJob(t *testing.T) {
	req := newTestPeer(t, &testRunner{}, nil)
	oldRun, oldRunner := newBlockingRunner()
	old := newTestPeer(t, oldRunner, nil)
	cut := newPartition()
	cut.install(old)
	t.Cleanup(cut.heal)
	connect(t, req.h, old.h)
	waitTopic(t, req.m, 1)
	id := startOn(t, req, oldRun, "late-receipt")
	newRun, newRunner := newBlockingRunner()
	t.Cleanup(func() { close(newRun.finish) })
	fresh := newTestPeer(t, newRunner, nil)
	connect(t, req.h, fresh.h)
	waitTopic(t, req.m, 2)
	get := func() *Job { j, _ := req.m.Jobs().Get(id.String()); return j }
	waitClosed(t, newRun.started, "the run under the newer award", get)

	// The superseded run ends while cut off; its receipt is stored there.
	old.m.exec.mu.Lock()
	var e *execution
	for _, x := range old.m.exec.execs {
		e = x
	}
	old.m.exec.mu.Unlock()
	close(oldRun.finish)
	waitClosed(t, e.done, "the end of the superseded run", get)
	cut.heal()

	j := waitJob(t, req.m, id, 90*time.Second)
	if j.State != Completed || len(j.Receipts) != 1 || j.Receipts[0].Executor != old.h.ID().String() {
		t.Fatalf("job %s (%s), receipts %+v:\n%s", j.State, j.Error, j.Receipts, eventsText(j))
	}
	if !strings.Contains(eventsText(j), "late receipt") {
		t.Fatalf("no late receipt event:\n%s", eventsText(j))
	}
	waitClosed(t, newRun.cancelled, "the Cancel of the newer award", get)
	j = get()
	if aw := awardTo(j, fresh); aw == nil || aw.State != "cancelled" {
		t.Fatalf("newer award %+v:\n%s", aw, eventsText(j))
	}
}
