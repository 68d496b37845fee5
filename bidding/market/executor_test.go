package market

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/exec"
)

// The executor's decisions without a network: an executor over pipeLink
// (no host, no gossip), awards and queries written to it over net.Pipe by
// a requester key of the test, and the decisions' clock injected.

// pipeLink is an executorLink without a network: no announcements arrive
// and no stream opens; frames are sealed as the transport seals them.
type pipeLink struct{ key crypto.PrivKey }

func (l pipeLink) nextAnnounce(ctx context.Context) (*bidding.Announce, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (l pipeLink) openStream(context.Context, peer.ID, protocol.ID) (io.ReadWriteCloser, error) {
	return nil, errors.New("no network in this test")
}

func (l pipeLink) dial(context.Context, peer.ID, protocol.ID) (io.ReadWriteCloser, error) {
	return nil, errors.New("no network")
}
func (l pipeLink) send(w io.Writer, msg bidding.Message) error { return sealTo(l.key, w, msg) }

// testClock is the executor's injected clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// execHarness is an executor and the requester that talks to it.
type execHarness struct {
	ex     *executor
	self   peer.ID
	req    peer.ID
	reqKey crypto.PrivKey
	clock  *testClock
}

func testKey(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// newExecHarness makes an executor over pipeLink; start runs its workers
// (without, accepted awards stay queued).
func newExecHarness(t *testing.T, start bool, edit func(*executorConfig)) *execHarness {
	t.Helper()
	key, self := testKey(t)
	reqKey, req := testKey(t)
	awards, err := openAwardStore(context.Background(), dssync.MutexWrap(ds.NewMapDatastore()))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	cfg := executorConfig{Key: key, Content: newTestContent(), Runner: &testRunner{engines: []string{exec.EngineWASM}},
		Capacity: jobspec.Resources{MilliCPU: 8000, Memory: 8 << 30, Disk: 100 << 30}, Slots: 1, QueueLimit: 4,
		WorkDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Now: clock.now}
	if edit != nil {
		edit(&cfg)
	}
	ex := newExecutor(cfg, self, pipeLink{key: key}, awards)
	ex.recover(context.Background())
	if start {
		ex.start()
	}
	t.Cleanup(func() {
		ex.stop()
		ex.wait()
	})
	return &execHarness{ex: ex, self: self, req: req, reqKey: reqKey, clock: clock}
}

// newAward is an award of a new job (named name) to the executor, issued
// at the executor's clock.
func (h *execHarness) newAward(t *testing.T, name string) *bidding.Award {
	t.Helper()
	block, id, err := jobspec.Encode(testJobSpec(name))
	if err != nil {
		t.Fatal(err)
	}
	return bidding.NewAward(id, block, h.req, h.self, nil, 1, h.clock.now())
}

// send writes msg, signed by the requester, to a new stream served by
// serve, and returns the requester's end.
func (h *execHarness) send(t *testing.T, serve handler, from peer.ID, msg bidding.Message) net.Conn {
	t.Helper()
	c, s := net.Pipe()
	go serve(s, from)
	t.Cleanup(func() { c.Close() })
	deadline(c, 30*time.Second)
	if err := sealTo(h.reqKey, c, msg); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads the executor's first answer on c.
func answer(t *testing.T, c net.Conn) bidding.Message {
	t.Helper()
	msg, _, err := recv(c, bidding.MaxMessageSize, bidding.KindAccept, bidding.KindDecline, bidding.KindStatus, bidding.KindReceipt)
	if err != nil {
		t.Fatalf("no answer from the executor: %v", err)
	}
	return msg
}

func wantDecline(t *testing.T, msg bidding.Message, code bidding.Code) {
	t.Helper()
	d, ok := msg.(*bidding.Decline)
	if !ok {
		t.Fatalf("answer %s, want a Decline %s", msg.Kind(), code)
	}
	if d.Code != code {
		t.Fatalf("Decline %s (%s), want %s", d.Code, d.Reason, code)
	}
}

// An award is accepted, run, and its statuses and signed receipt come on
// the award's stream, in order; the award is then recorded as completed
// and a Query gets the stored receipt.
func TestExecutorRunsAnAward(t *testing.T) {
	h := newExecHarness(t, true, nil)
	a := h.newAward(t, "runs")
	c := h.send(t, h.ex.serveAward, h.req, a)
	if acc, ok := answer(t, c).(*bidding.Accept); !ok || acc.AwardID != a.AwardID {
		t.Fatalf("want the Accept of award %s", a.AwardID)
	}
	var phases []bidding.Phase
	var rc *bidding.Receipt
	for rc == nil {
		switch x := answer(t, c).(type) {
		case *bidding.Status:
			if x.Phase != bidding.PhaseHeartbeat {
				phases = append(phases, x.Phase)
			}
		case *bidding.Receipt:
			rc = x
		default:
			t.Fatalf("unexpected %s", x.Kind())
		}
	}
	if rc.AwardID != a.AwardID || rc.Executor != h.self || rc.Requester != h.req || rc.ErrorCode != "" {
		t.Fatalf("receipt %+v", rc)
	}
	want := []bidding.Phase{bidding.PhaseFetching, bidding.PhaseRunning, bidding.PhasePublishing}
	if len(phases) != len(want) || phases[0] != want[0] || phases[1] != want[1] || phases[2] != want[2] {
		t.Fatalf("phases %v, want %v", phases, want)
	}
	rec, ok := h.ex.awards.get(a.AwardID.String())
	if !ok || rec.State != bidding.AwardCompleted || rec.Receipt == nil {
		t.Fatalf("award record %+v", rec)
	}
	q := &bidding.Query{Version: bidding.WireVersion, AwardID: a.AwardID, JobCID: a.JobCID, Requester: h.req, IssuedAt: h.clock.now()}
	if got, ok := answer(t, h.send(t, h.ex.serveQuery, h.req, q)).(*bidding.Receipt); !ok || got.AwardID != a.AwardID {
		t.Fatalf("Query of a finished award: want its receipt")
	}
}

// Fetching statuses say how much of the job's inputs is local and how
// much there is in all while the fetch goes on (the size each root
// records), not only once it is over; a fetch reporting each block sends
// a bounded number of them.
func TestExecutorFetchProgress(t *testing.T) {
	in1, in2 := rawCID([]byte("input one")), rawCID([]byte("input two"))
	const size1, size2 = 256 << 10, 64 << 10
	h := newExecHarness(t, true, func(c *executorConfig) {
		c.Content.(*testContent).sizes = map[cid.Cid]int64{in1: size1, in2: size2}
	})
	block, id, err := jobspec.Encode(testJobSpec("fetches", func(s *jobspec.Spec) {
		s.Inputs = []jobspec.Input{{CID: in1, Path: "/inputs/a"}, {CID: in2, Path: "/inputs/b"}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	a := bidding.NewAward(id, block, h.req, h.self, nil, 1, h.clock.now())
	c := h.send(t, h.ex.serveAward, h.req, a)
	if _, ok := answer(t, c).(*bidding.Accept); !ok {
		t.Fatal("award not accepted")
	}
	var fetching []*bidding.Status
	for done := false; !done; {
		switch x := answer(t, c).(type) {
		case *bidding.Status:
			if x.Phase == bidding.PhaseFetching && x.Total > 0 {
				fetching = append(fetching, x)
			}
		case *bidding.Receipt:
			done = true
		}
	}
	var partial bool
	for _, s := range fetching {
		if s.Done > s.Total || s.Total > size1+size2 {
			t.Fatalf("fetching %d/%d: done over total, or total over the inputs' %d", s.Done, s.Total, size1+size2)
		}
		if s.Done < s.Total && s.Total >= size1 {
			partial = true
		}
	}
	if !partial {
		t.Fatalf("no fetching status with its total known before the end: %v", progressOf(fetching))
	}
	if last := fetching[len(fetching)-1]; last.Done != size1+size2 || last.Total != size1+size2 {
		t.Fatalf("last fetching status %d/%d, want %d/%d", last.Done, last.Total, size1+size2, size1+size2)
	}
	// 320 progress calls at one instant of the executor's clock: at most
	// fetchReportStep+1 statuses per input.
	if n := len(fetching); n > 2*(fetchReportStep+1) {
		t.Fatalf("%d fetching statuses for 2 inputs: not bounded (%v)", n, progressOf(fetching))
	}
}

func progressOf(ss []*bidding.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%d/%d", s.Done, s.Total)
	}
	return out
}

// The executor's refusals of awards, each decided before anything runs.
func TestExecutorDeclinesAwards(t *testing.T) {
	t.Run("not sent by its requester", func(t *testing.T) {
		h := newExecHarness(t, false, nil)
		_, other := testKey(t)
		wantDecline(t, answer(t, h.send(t, h.ex.serveAward, other, h.newAward(t, "forged"))), bidding.CodeBadRequest)
	})
	t.Run("replayed", func(t *testing.T) {
		h := newExecHarness(t, false, nil)
		a := h.newAward(t, "replayed")
		if _, ok := answer(t, h.send(t, h.ex.serveAward, h.req, a)).(*bidding.Accept); !ok {
			t.Fatal("first delivery not accepted")
		}
		wantDecline(t, answer(t, h.send(t, h.ex.serveAward, h.req, a)), bidding.CodeAwardReplayed)
	})
	t.Run("queue full", func(t *testing.T) {
		// No workers: accepted awards stay queued. One slot, room for one
		// waiting run: the first award takes the queue, the second finds it
		// full (occ.Enqueue or Admit, both no_capacity).
		h := newExecHarness(t, false, func(c *executorConfig) { c.QueueLimit = 1 })
		if _, ok := answer(t, h.send(t, h.ex.serveAward, h.req, h.newAward(t, "first"))).(*bidding.Accept); !ok {
			t.Fatal("first award not accepted")
		}
		wantDecline(t, answer(t, h.send(t, h.ex.serveAward, h.req, h.newAward(t, "second"))), bidding.CodeNoCapacity)
		if running, queued, _ := h.ex.load(); running != 0 || queued != 1 {
			t.Fatalf("load %d running, %d queued; want 0, 1", running, queued)
		}
	})
	t.Run("engine not run here", func(t *testing.T) {
		h := newExecHarness(t, false, func(c *executorConfig) { c.Runner = &testRunner{engines: []string{exec.EngineDocker}} })
		wantDecline(t, answer(t, h.send(t, h.ex.serveAward, h.req, h.newAward(t, "wasm"))), bidding.CodeEngineUnavailable)
	})
	t.Run("unknown award queried", func(t *testing.T) {
		h := newExecHarness(t, false, nil)
		q := &bidding.Query{Version: bidding.WireVersion, AwardID: bidding.NewAwardID(), JobCID: h.newAward(t, "q").JobCID, Requester: h.req, IssuedAt: h.clock.now()}
		wantDecline(t, answer(t, h.send(t, h.ex.serveQuery, h.req, q)), bidding.CodeUnknownAward)
	})
}

// The replay filter and the early-cancel window read the injected clock:
// an award is expired or from the future by the executor's clock, not the
// wall clock, and a Cancel of an unseen award refuses it only while the
// window lasts.
func TestExecutorDecisionsUseItsClock(t *testing.T) {
	t.Run("expired by the executor's clock", func(t *testing.T) {
		h := newExecHarness(t, false, nil)
		a := h.newAward(t, "late")
		h.clock.set(a.Expires)
		wantDecline(t, answer(t, h.send(t, h.ex.serveAward, h.req, a)), bidding.CodeAwardExpired)
	})
	t.Run("from the future by the executor's clock", func(t *testing.T) {
		h := newExecHarness(t, false, nil)
		a := h.newAward(t, "early")
		h.clock.set(a.IssuedAt.Add(-2 * bidding.MaxClockSkew))
		wantDecline(t, answer(t, h.send(t, h.ex.serveAward, h.req, a)), bidding.CodeBadRequest)
	})
	t.Run("cancelled before it arrived", func(t *testing.T) {
		h := newExecHarness(t, false, nil)
		a := h.newAward(t, "cancelled-first")
		c := &bidding.Cancel{Version: bidding.WireVersion, AwardID: a.AwardID, JobCID: a.JobCID, Requester: h.req, Reason: "failed over", IssuedAt: h.clock.now()}
		wantDecline(t, answer(t, h.send(t, h.ex.serveQuery, h.req, c)), bidding.CodeUnknownAward)
		wantDecline(t, answer(t, h.send(t, h.ex.serveAward, h.req, a)), bidding.CodeCancelled)
	})
	t.Run("a Cancel of an unseen award expires", func(t *testing.T) {
		h := newExecHarness(t, false, nil)
		t0 := h.clock.now()
		id := bidding.NewAwardID()
		job := h.newAward(t, "cancel-expires").JobCID
		c := &bidding.Cancel{Version: bidding.WireVersion, AwardID: id, JobCID: job, Requester: h.req, Reason: "failed over", IssuedAt: t0}
		wantDecline(t, answer(t, h.send(t, h.ex.serveQuery, h.req, c)), bidding.CodeUnknownAward)
		// Past the window, an award with that ID (valid by the same clock)
		// is no longer refused as cancelled.
		h.clock.set(t0.Add(earlyCancelTTL + time.Second))
		a := h.newAward(t, "cancel-expires")
		a.AwardID = id
		if msg := answer(t, h.send(t, h.ex.serveAward, h.req, a)); msg.Kind() != bidding.KindAccept {
			t.Fatalf("answer %s past the early-cancel window, want Accept", msg.Kind())
		}
	})
}

// The bidder's answer to an announcement: a bid once per job and attempt,
// and a decline once the queue is full.
func TestExecutorAnswersAnnouncements(t *testing.T) {
	h := newExecHarness(t, false, func(c *executorConfig) { c.QueueLimit = 1 })
	spec := testJobSpec("announced")
	a, err := bidding.NewAnnounce(spec, h.req, nil, 1, h.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	bid, ok := h.ex.answer(context.Background(), a).(*bidding.Bid)
	if !ok || bid.Bidder != h.self || bid.FreeSlots != 1 || bid.EstStart != 0 {
		t.Fatalf("answer to an idle executor: %+v, want a bid with 1 free slot, starting at once", bid)
	}
	if again := h.ex.answer(context.Background(), a); again != nil {
		t.Fatalf("the same announcement answered twice: %s", again.Kind())
	}
	h.ex.release(a.JobCID)
	// Fill the queue (no workers run it).
	if _, ok := answer(t, h.send(t, h.ex.serveAward, h.req, h.newAward(t, "filler"))).(*bidding.Accept); !ok {
		t.Fatal("filler award not accepted")
	}
	a2, err := bidding.NewAnnounce(testJobSpec("announced-2"), h.req, nil, 1, h.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	d, ok := h.ex.answer(context.Background(), a2).(*bidding.Decline)
	if !ok || d.Code != bidding.CodeNoCapacity {
		t.Fatalf("answer with the queue full: %+v, want a %s decline", d, bidding.CodeNoCapacity)
	}
}
