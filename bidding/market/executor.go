package market

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/internal/metrics"
)

// Limits of what an executor loads into memory.
const maxModuleSize = 256 << 20

// executor is the executor side of the job protocol on one node (bidder
// and executor): it answers announcements with a bid or a decline, accepts
// or declines awards, queues and runs accepted awards, sends their statuses
// and signs their receipts. It owns its state under its own lock mu and
// reaches the network only through link; it never touches the requester's
// state or lock (a node's requester reaches it through answer, release and
// the transport's in-process pipes to serveAward and serveQuery).
type executor struct {
	cfg  executorConfig
	self peer.ID
	log  *slog.Logger
	link executorLink
	// now is the clock of the executor's decisions and messages (the
	// replay filter, early cancels, reservations, timestamps); durations
	// of runs are measured on the wall clock.
	now func() time.Time
	membership
	dirs *workDirs // the runs' work directories

	awards  *awardStore
	res     *bidding.Reservations
	dedup   *bidding.Dedup
	cancels earlyCancels // awards cancelled before they arrived

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	answers map[answerKey]time.Time        // announces already answered
	execs   map[bidding.AwardID]*execution // accepted awards, queued or running
	queue   chan *execution                // accepted, waiting for a slot
	occ     bidding.Occupancy              // slots and queue

	memo       memoCache     // receipt records published here or reused
	executions atomic.Int64  // runs handed to an engine since start
	publishing chan struct{} // receipt records being published (memo.go)
	memoDrops  atomic.Int64  // records not published: publishing full
	memoShort  atomic.Int64  // records not published: runs under MemoMinRun

	announceSlots chan struct{} // gossip announcements in progress
	announceDrops atomic.Int64  // announcements dropped (slots full)
	dropLogged    atomic.Int64  // unix ns of the last log of drops
}

// executorConfig is what an executor needs: the part of Config that is
// its own, defaults applied.
type executorConfig struct {
	Key           crypto.PrivKey
	Content       Content
	Runner        Runner
	Remote        Remote
	Labels        map[string]string
	Capacity      jobspec.Resources
	Slots         int // > 0
	QueueLimit    int // > 0
	MaxInputBytes int64
	WorkDir       string
	Trust         Trust
	Policy        Policy
	Memo          Memo          // nil: no receipt records published
	MemoMinRun    time.Duration // shorter runs: kept in the memo cache only
	Logger        *slog.Logger
	// Now is the decisions' clock (nil: time.Now).
	Now func() time.Time
	// Metrics (nil: none).
	Metrics *metrics.Metrics
}

// executorLink is what the executor needs of the transport.
type executorLink interface {
	// nextAnnounce returns the next validated announcement of another
	// node heard on the topic, or an error once gossip stopped.
	nextAnnounce(ctx context.Context) (*bidding.Announce, error)
	// openStream opens a stream to p on proto.
	openStream(ctx context.Context, p peer.ID, proto protocol.ID) (io.ReadWriteCloser, error)
	// send seals msg with the node's key and writes it as one frame.
	send(w io.Writer, msg bidding.Message) error
	// dial opens a stream to p on proto, or a pipe to this node's own
	// handler when p is this node (the live logs of its own jobs).
	dial(ctx context.Context, p peer.ID, proto protocol.ID) (io.ReadWriteCloser, error)
}

var _ executorLink = (*transport)(nil)

type answerKey struct {
	job     cid.Cid
	attempt int
}

// newExecutor makes the executor of self over link and awards. It serves
// nothing until start.
func newExecutor(cfg executorConfig, self peer.ID, link executorLink, awards *awardStore) *executor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("pkg", "market")
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &executor{
		cfg:        cfg,
		self:       self,
		log:        cfg.Logger,
		link:       link,
		now:        cfg.Now,
		membership: membership{trust: cfg.Trust, self: self},
		awards:     awards,
		dirs:       &workDirs{root: cfg.WorkDir},
		res:        bidding.NewReservations(bidding.DefaultReservationTTL, cfg.Now),
		dedup:      bidding.NewDedup(bidding.DefaultDedupSize),
		ctx:        ctx,
		cancel:     cancel,
		answers:    map[answerKey]time.Time{},
		execs:      map[bidding.AwardID]*execution{},
		queue:      make(chan *execution, cfg.QueueLimit),
		occ:        bidding.Occupancy{Slots: cfg.Slots, QueueLimit: cfg.QueueLimit},

		announceSlots: make(chan struct{}, maxAnnounceConcurrency),
		publishing:    make(chan struct{}, memoMaxPublishing),
	}
}

// recover closes the awards that were in progress when the node stopped
// and loads the replay filter: before the first award is served.
func (ex *executor) recover(ctx context.Context) {
	ex.awards.failInterrupted(ctx, ex)
}

// start starts the workers (one per slot), the reading of announcements,
// the heartbeats and the sweep of answered announcements.
func (ex *executor) start() {
	for i := 0; i < ex.cfg.Slots; i++ {
		ex.wg.Add(1)
		go ex.worker()
	}
	ex.wg.Add(3)
	go ex.readAnnouncements()
	go ex.sweep()
	go ex.heartbeats()
}

// stop cancels the runs and ends the executor's goroutines; wait waits
// for them.
func (ex *executor) stop() { ex.cancel() }
func (ex *executor) wait() { ex.wg.Wait(); ex.dirs.close() }

// load reports the occupation for the capability record.
func (ex *executor) load() (running, queued, free int) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.occ.Running, ex.occ.Queued, ex.cfg.Slots - ex.occ.Running
}

// release ends the reservation of a bid this node made on job (the
// requester's own bid, out of contention).
func (ex *executor) release(job cid.Cid) { ex.res.Release(job) }

// sweep forgets old answered announcements.
func (ex *executor) sweep() {
	defer ex.wg.Done()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ex.ctx.Done():
			return
		case <-t.C:
			now := ex.now()
			ex.mu.Lock()
			for k, at := range ex.answers {
				if now.Sub(at) > time.Minute {
					delete(ex.answers, k)
				}
			}
			ex.mu.Unlock()
		}
	}
}

// execution is an accepted award on this executor.
type execution struct {
	award *bidding.Award
	spec  *jobspec.Spec
	rec   *awardRecord
	// secrets are the values of the spec's secrets, opened from the award;
	// in memory only, handed to the engine's env at run time.
	secrets map[string]string

	mu        sync.Mutex
	seq       int64
	phase     bidding.Phase
	fetched   [2]int64 // fetch progress: bytes local so far, bytes in all
	watchers  map[*watcher]struct{}
	done      chan struct{}
	receipt   []byte
	cancel    context.CancelFunc
	cancelled bool
	holdsSlot bool // guarded by executor.mu
}

// watcher is a requester stream that receives statuses and the receipt.
// One sender goroutine per watcher writes its queue in order; heartbeats are
// dropped when the queue is not empty, phase changes and the receipt never.
type watcher struct {
	conn   io.ReadWriteCloser
	ch     chan []byte
	closed bool // ch closed; guarded by execution.mu
}

// watcherQueue bounds the messages waiting for one slow requester.
const watcherQueue = 64

func newWatcher(conn io.ReadWriteCloser) *watcher {
	w := &watcher{conn: conn, ch: make(chan []byte, watcherQueue)}
	go w.run()
	return w
}

// run writes queued frames until the queue is closed, then closes the
// stream: a receipt queued last is written before the close.
func (w *watcher) run() {
	failed := false
	for b := range w.ch {
		if failed {
			continue
		}
		writeDeadline(w.conn, bidding.StreamTimeout)
		if err := bidding.WriteMsg(w.conn, b); err != nil {
			failed = true
		}
	}
	_ = w.conn.Close()
}

// send queues b; heartbeats are skipped while earlier frames are pending.
// The caller holds the execution's lock.
func (w *watcher) send(b []byte, heartbeat bool) {
	if w.closed || (heartbeat && len(w.ch) > 0) {
		return
	}
	select {
	case w.ch <- b:
	default: // a requester this far behind gets the receipt by Query
	}
}

// finish queues the last frame (if any) and closes the queue. The caller
// holds the execution's lock.
func (w *watcher) finish(last []byte) {
	if w.closed {
		return
	}
	if last != nil {
		select {
		case w.ch <- last:
		default:
		}
	}
	w.closed = true
	close(w.ch)
}

// refusal is err as a Refusal: err's own, or bad_request.
func refusal(err error) *bidding.Refusal {
	var r *bidding.Refusal
	if !errors.As(err, &r) {
		r = &bidding.Refusal{Code: bidding.CodeBadRequest, Reason: err.Error()}
	}
	return r
}

// serveAward answers an award: Decline, or Accept followed by statuses and
// the receipt on the same stream. It returns when the stream ends.
func (ex *executor) serveAward(conn io.ReadWriteCloser, remote peer.ID) {
	defer conn.Close()
	deadline(conn, bidding.StreamTimeout)
	msg, _, err := recv(conn, bidding.MaxAwardSize, bidding.KindAward)
	if err != nil {
		ex.log.Debug("bad award", "peer", remote, "err", err)
		return
	}
	a := msg.(*bidding.Award)
	decline := func(r *bidding.Refusal) {
		ex.cfg.Metrics.Declined("award", string(r.Code))
		r.Reason = bidding.TruncateText(r.Reason, bidding.MaxReasonLen)
		_ = ex.link.send(conn, bidding.NewDecline(a.JobCID, a.AwardID, ex.self, r, ex.now()))
	}
	if a.Requester != remote {
		decline(&bidding.Refusal{Code: bidding.CodeBadRequest, Reason: "award not sent by its requester"})
		return
	}
	if ex.cancels.has(a.AwardID, remote, ex.now()) {
		decline(&bidding.Refusal{Code: bidding.CodeCancelled, Reason: "award " + a.AwardID.String() + " was cancelled by its requester before it arrived"})
		return
	}
	if _, seen := ex.awards.get(a.AwardID.String()); seen {
		decline(&bidding.Refusal{Code: bidding.CodeAwardReplayed, Reason: "award " + a.AwardID.String() + " already seen"})
		return
	}
	if err := ex.dedup.Check(a, ex.self, ex.now()); err != nil {
		decline(refusal(err))
		return
	}
	if ex.ctx.Err() != nil {
		decline(&bidding.Refusal{Code: bidding.CodeShuttingDown, Reason: "node is shutting down"})
		return
	}
	spec, err := a.JobSpec()
	if errors.Is(err, bidding.ErrSpecNotInline) {
		var b interface{ RawData() []byte }
		ctx, cancel := context.WithTimeout(ex.ctx, maxSpecFetch)
		b, err = ex.cfg.Content.GetBlock(ctx, a.JobCID, append(a.Providers, peer.AddrInfo{ID: a.Requester}))
		cancel()
		if err == nil {
			spec, err = jobspec.Decode(b.RawData())
		}
	}
	if err != nil {
		decline(&bidding.Refusal{Code: bidding.CodeBadRequest, Reason: "job spec: " + err.Error()})
		return
	}
	// Admission again: the node may have changed since it bid.
	ex.res.Claim(a.JobCID)
	if r := ex.policyRefusal(ex.ctx, a.JobCID, spec, a.Requester, true); r != nil {
		decline(r)
		return
	}
	if _, err := bidding.Admit(spec, ex.view()); err != nil {
		decline(refusal(err))
		return
	}
	vals, err := ex.openSecrets(a, spec)
	if err != nil {
		decline(&bidding.Refusal{Code: bidding.CodeBadRequest, Reason: "secrets: " + err.Error()})
		return
	}
	rec := &awardRecord{ID: a.AwardID.String(), Job: a.JobCID.String(), Requester: a.Requester.String(),
		State: bidding.AwardAccepted, Accepted: ex.now(), Expires: a.Expires}
	e := &execution{award: a, spec: spec, secrets: vals, rec: rec, phase: bidding.PhaseAccepted, watchers: map[*watcher]struct{}{}, done: make(chan struct{})}
	ex.mu.Lock()
	if err := ex.occ.Enqueue(); err != nil {
		ex.mu.Unlock()
		decline(refusal(err))
		return
	}
	ex.execs[a.AwardID] = e
	ex.mu.Unlock()
	if err := ex.awards.put(ex.ctx, rec); err != nil {
		ex.dropQueued(e)
		decline(&bidding.Refusal{Code: bidding.CodeShuttingDown, Reason: err.Error()})
		return
	}
	if err := ex.link.send(conn, bidding.NewAccept(a, ex.now())); err != nil {
		ex.log.Debug("accept not delivered; running anyway, the requester can query", "award", rec.ID, "err", err)
	}
	w := ex.attach(e, conn)
	select {
	case ex.queue <- e:
	default: // cannot happen: occ.Queued <= QueueLimit = cap(queue)
	}
	ex.readCancels(conn, e, w)
}

func (ex *executor) dropQueued(e *execution) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.occ.Unqueue()
	delete(ex.execs, e.award.AwardID)
}

// attach adds a requester stream to the execution's watchers and queues
// the current status (or the receipt, when the run already ended).
func (ex *executor) attach(e *execution, conn io.ReadWriteCloser) *watcher {
	w := newWatcher(conn)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.receipt != nil {
		w.finish(e.receipt)
		return w
	}
	e.watchers[w] = struct{}{}
	if b, err := ex.sealStatus(e, e.phase, e.seq); err == nil && e.seq > 0 {
		w.send(b, false)
	}
	return w
}

// readCancels keeps a requester stream open until the run ends (the sender
// closes the stream after the receipt) or the requester closes it,
// honouring a Cancel written on it.
func (ex *executor) readCancels(conn io.ReadWriteCloser, e *execution, w *watcher) {
	defer func() {
		e.mu.Lock()
		delete(e.watchers, w)
		w.finish(nil)
		e.mu.Unlock()
	}()
	noReadDeadline(conn)
	for {
		msg, _, err := recv(conn, bidding.MaxMessageSize, bidding.KindCancel)
		if err != nil {
			return
		}
		c := msg.(*bidding.Cancel)
		if c.AwardID == e.award.AwardID && c.Requester == e.award.Requester {
			e.stop()
		}
	}
}

func (e *execution) stop() {
	e.mu.Lock()
	e.cancelled = true
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// serveQuery answers a requester re-attaching to an award (or cancelling
// it): the receipt when the run ended, else the current status, the
// following ones and the receipt.
func (ex *executor) serveQuery(conn io.ReadWriteCloser, remote peer.ID) {
	defer conn.Close()
	deadline(conn, bidding.StreamTimeout)
	msg, _, err := recv(conn, bidding.MaxMessageSize, bidding.KindQuery, bidding.KindCancel)
	if err != nil {
		return
	}
	if msg.Signer() != remote {
		return
	}
	var award bidding.AwardID
	var job cid.Cid
	switch x := msg.(type) {
	case *bidding.Query:
		award, job = x.AwardID, x.JobCID
	case *bidding.Cancel:
		// Stop the run; its receipt (cancelled) follows on this stream.
		// A Cancel for an award not seen yet is remembered, so that the
		// award is refused if it arrives late.
		award, job = x.AwardID, x.JobCID
		ex.mu.Lock()
		e := ex.execs[award]
		ex.mu.Unlock()
		if e != nil && e.award.Requester == remote {
			e.stop()
		} else if _, ok := ex.awards.get(award.String()); !ok {
			ex.cancels.add(award, remote, ex.now())
		}
	}
	ex.mu.Lock()
	e := ex.execs[award]
	ex.mu.Unlock()
	if e != nil && e.award.Requester == remote {
		w := ex.attach(e, conn)
		ex.readCancels(conn, e, w)
		return
	}
	rec, ok := ex.awards.get(award.String())
	if ok && rec.Requester == remote.String() && rec.Receipt != nil {
		_ = bidding.WriteMsg(conn, rec.Receipt)
		return
	}
	_ = ex.link.send(conn, bidding.NewDecline(job, award, ex.self, &bidding.Refusal{Code: bidding.CodeUnknownAward, Reason: "no such award on this node"}, ex.now()))
}

// sealStatus signs a status of e with sequence number seq.
func (ex *executor) sealStatus(e *execution, phase bidding.Phase, seq int64) ([]byte, error) {
	st := &bidding.Status{Version: bidding.WireVersion, AwardID: e.award.AwardID, JobCID: e.award.JobCID, Executor: ex.self,
		Phase: phase, Seq: seq, Time: ex.now()}
	if phase == bidding.PhaseFetching {
		st.Done, st.Total = e.fetched[0], e.fetched[1]
	}
	return bidding.Seal(ex.cfg.Key, st)
}

// status broadcasts a phase change or heartbeat to the watchers, in
// sequence order.
func (ex *executor) status(e *execution, phase bidding.Phase) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.receipt != nil {
		return
	}
	e.seq++
	if phase != bidding.PhaseHeartbeat {
		e.phase = phase
	}
	if len(e.watchers) == 0 {
		return
	}
	b, err := ex.sealStatus(e, phase, e.seq)
	if err != nil {
		return
	}
	for w := range e.watchers {
		w.send(b, phase == bidding.PhaseHeartbeat)
	}
}

// fetchProgress reports the bytes of the job's content made local so far
// and in all (a fetching status).
func (ex *executor) fetchProgress(e *execution, done, total int64) {
	e.mu.Lock()
	e.fetched = [2]int64{min(done, bidding.MaxProgress), min(total, bidding.MaxProgress)}
	e.mu.Unlock()
	ex.status(e, bidding.PhaseFetching)
}

// fetchReportEvery and fetchReportStep bound the fetching statuses one
// input sends: one when this long has passed since the last, or when this
// fraction of the input more is local.
const (
	fetchReportEvery = 250 * time.Millisecond
	fetchReportStep  = 8 // 1/8 of the input
)

// fetchMeter turns the progress of each input's fetch into fetching
// statuses of the whole job: bytes local so far and in all, the total
// being the inputs done plus the size the current input's root records
// (inputs not begun yet are not known without fetching their roots
// first, which would delay every fetch by a round trip).
type fetchMeter struct {
	ex       *executor
	e        *execution
	last     time.Time
	lastDone int64
	sent     [2]int64
}

func (ex *executor) newFetchMeter(e *execution) *fetchMeter {
	return &fetchMeter{ex: ex, e: e}
}

// of returns the progress callback of the input fetched after before bytes
// of earlier ones.
func (m *fetchMeter) of(before int64) func(done, total int64) {
	m.lastDone = 0
	return func(done, total int64) {
		if total < done {
			total = done // the root records no size, or lies about it
		}
		now := m.ex.cfg.Now()
		if done < total && now.Sub(m.last) < fetchReportEvery && done-m.lastDone < total/fetchReportStep {
			return
		}
		m.last, m.lastDone = now, done
		m.report(before+done, before+total)
	}
}

// report sends a fetching status of done/total bytes, unless it would
// repeat the last one.
func (m *fetchMeter) report(done, total int64) {
	if p := [2]int64{done, total}; p != m.sent {
		m.sent = p
		m.ex.fetchProgress(m.e, done, total)
	}
}

// heartbeats sends a heartbeat of every accepted award, queued or running,
// each HeartbeatInterval, so requesters can tell a busy executor from a
// dead one.
func (ex *executor) heartbeats() {
	defer ex.wg.Done()
	t := time.NewTicker(bidding.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ex.ctx.Done():
			return
		case <-t.C:
		}
		ex.mu.Lock()
		live := make([]*execution, 0, len(ex.execs))
		for _, e := range ex.execs {
			live = append(live, e)
		}
		ex.mu.Unlock()
		for _, e := range live {
			ex.status(e, bidding.PhaseHeartbeat)
		}
	}
}

// worker runs queued executions, one at a time per slot. A slot covers
// fetching and running; publishing (imports, pins and syncs: disk-bound)
// goes on outside it, at most maxPublishing per slot at once, so that the
// next job starts meanwhile and concurrent syncs share one disk flush.
func (ex *executor) worker() {
	defer ex.wg.Done()
	publishing := make(chan struct{}, maxPublishing)
	for {
		select {
		case <-ex.ctx.Done():
			return
		case e := <-ex.queue:
			ex.mu.Lock()
			ex.occ.Start()
			e.holdsSlot = true
			ex.mu.Unlock()
			start := time.Now()
			ex.cfg.Metrics.Started(ex.now().Sub(e.rec.Accepted))
			finish := ex.execute(e)
			ex.mu.Lock()
			ex.occ.Finish(time.Since(start))
			e.holdsSlot = false
			ex.mu.Unlock()
			publishing <- struct{}{}
			ex.wg.Add(1)
			go func() {
				defer ex.wg.Done()
				defer func() { <-publishing }()
				finish()
				ex.mu.Lock()
				delete(ex.execs, e.award.AwardID)
				ex.mu.Unlock()
			}()
		}
	}
}

// maxPublishing bounds the runs of one slot that publish at once.
const maxPublishing = 4

// execute fetches and runs one award; the function it returns publishes
// the outputs and sends the receipt.
func (ex *executor) execute(e *execution) (finish func()) {
	ctx, cancel := context.WithCancel(ex.ctx)
	e.mu.Lock()
	e.cancel = cancel
	cancelled := e.cancelled
	e.mu.Unlock()

	rc := &bidding.Receipt{Version: bidding.WireVersion, JobCID: e.award.JobCID, AwardID: e.award.AwardID,
		Requester: e.award.Requester, Executor: ex.self, StartedAt: time.Now()}
	var ran *ranTask
	state := bidding.AwardCompleted
	if cancelled {
		rc.ErrorCode, rc.Error = bidding.CodeCancelled, "cancelled before it started"
		state = bidding.AwardCancelled
	} else {
		ran, state = ex.runTask(ctx, e, rc)
	}
	return func() {
		defer cancel()
		if ran != nil {
			state = ex.publish(ctx, e, rc, ran)
			// The live logs end before the receipt (LogDrain at most), so
			// a requester following them has them all when the job ends.
			ran.logs.wait()
		}
		rc.FinishedAt = time.Now()
		rc.Timings.Total = rc.FinishedAt.Sub(rc.StartedAt)
		ex.cfg.Metrics.Ran(e.spec.Engine.Kind(), rc.Timings.Total, string(rc.ErrorCode))
		block, _, err := bidding.EncodeReceipt(ex.cfg.Key, rc)
		if err != nil {
			ex.log.Error("cannot sign receipt", "award", e.rec.ID, "err", err)
			return
		}
		ex.finishAward(e, state, block, rc)
	}
}

// finishAward stores the receipt and sends it to the watchers.
// rc is what block holds.
func (ex *executor) finishAward(e *execution, state bidding.AwardState, block []byte, rc *bidding.Receipt) {
	rcid := bidding.ReceiptCID(block)
	// The receipt block and the award record are written and synced at
	// once: on one pebble WAL the two syncs are grouped, not paid in turn
	// before the requester hears of the receipt.
	stored := make(chan struct{})
	go func() {
		defer close(stored)
		if b, err := newBlock(block, rcid); err == nil {
			_ = ex.cfg.Content.PutBlock(ex.ctx, b)
		}
	}()
	e.rec.State, e.rec.Receipt = state, block
	if err := ex.awards.put(context.Background(), e.rec); err != nil {
		ex.log.Error("cannot store receipt", "award", e.rec.ID, "err", err)
	}
	<-stored
	ex.publishRecord(e, state, block, rc)
	e.mu.Lock()
	e.receipt = block
	for w := range e.watchers {
		w.finish(block)
	}
	e.watchers = nil
	e.mu.Unlock()
	close(e.done)
}

// ranTask is a run to publish.
type ranTask struct {
	dir  string // the run's work directory, given back once published
	logs *logTap
	task *exec.Task
	res  *exec.Result
	err  error
}

// failReceipt records a failure in rc and returns the award's final state.
func failReceipt(rc *bidding.Receipt, code bidding.Code, format string, args ...any) bidding.AwardState {
	rc.ErrorCode, rc.Error = code, bidding.TruncateText(fmt.Sprintf(format, args...), bidding.MaxErrorLen)
	if code == bidding.CodeCancelled {
		return bidding.AwardCancelled
	}
	return bidding.AwardFailed
}

// runTask fetches what the job needs and runs it. It returns the run to
// publish, or nil and the final award state (filled in rc) when the job
// ended before it ran.
func (ex *executor) runTask(ctx context.Context, e *execution, rc *bidding.Receipt) (*ranTask, bidding.AwardState) {
	spec := e.spec
	fail := func(code bidding.Code, format string, args ...any) (*ranTask, bidding.AwardState) {
		return nil, failReceipt(rc, code, format, args...)
	}
	dir, err := ex.dirs.take()
	if err != nil {
		return fail(bidding.CodeEngineError, "work dir: %v", err)
	}
	handedOver := false
	defer func() {
		if !handedOver {
			ex.dirs.give(dir)
		}
	}()

	// Fetch what we lack.
	ex.status(e, bidding.PhaseFetching)
	t0 := time.Now()
	hints := append([]peer.AddrInfo{{ID: e.award.Requester}}, e.award.Providers...)
	// Inputs and image tarballs are made local first; a wasm module is read
	// (and fetched if needed) below, through the module cache.
	// Remote inputs (URL, S3) are downloaded and imported first; they
	// and the CID inputs share one budget of MaxInputBytes, counted in
	// bytes received: the size a root records is a claim, checked at the
	// bid.
	inputCIDs, used, code, err := ex.importInputs(ctx, spec, rc)
	if err != nil {
		if ctx.Err() != nil && e.isCancelled() {
			return fail(bidding.CodeCancelled, "cancelled while importing")
		}
		return fail(code, "%v", err)
	}
	need := spec.InputCIDs()
	if d := spec.Engine.Docker; d != nil && d.ImageCID.Defined() {
		need = append(need, d.ImageCID)
	}
	inputs := len(spec.InputCIDs())
	var fetched int64
	prog := ex.newFetchMeter(e)
	for i, c := range need {
		limit := FetchLimit{Max: ex.cfg.MaxInputBytes, Name: "jobs.max_input_bytes"}
		if i < inputs && limit.Max > 0 {
			limit.Max = max(limit.Max-used, 1) // 0 would mean no bound
			if used > 0 {
				limit.Name = fmt.Sprintf("the part of jobs.max_input_bytes (%s) earlier inputs left", jobspec.FormatSize(ex.cfg.MaxInputBytes))
			}
		}
		limit.Progress = prog.of(fetched)
		n, err := ex.cfg.Content.Fetch(ctx, c, hints, limit)
		if err != nil {
			if ctx.Err() != nil && e.isCancelled() {
				return fail(bidding.CodeCancelled, "cancelled while fetching")
			}
			if errors.Is(err, ErrContentTooLarge) {
				return fail(bidding.CodeInputTooLarge, "input %s refused: %v", c, err)
			}
			return fail(bidding.CodeFetchFailed, "input CID %s not found: %v", c, err)
		}
		used += n
		fetched += n
		prog.report(fetched, fetched)
	}
	task := &exec.Task{ID: e.rec.ID, OutputsDir: filepath.Join(dir, "outputs"), Timeout: spec.Timeout,
		Limits: exec.Limits{CPU: float64(spec.Resources.MilliCPU) / 1000, MemoryBytes: spec.Resources.Memory, DiskBytes: spec.Resources.Disk}}
	if len(spec.Outputs) > 0 {
		task.OutputsPath = spec.Outputs[0]
	}
	for i, in := range spec.Inputs {
		p := filepath.Join(dir, "inputs", fmt.Sprint(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fail(bidding.CodeEngineError, "inputs: %v", err)
		}
		if err := ex.cfg.Content.WriteTo(ctx, inputCIDs[i], p); err != nil {
			if errors.Is(err, ErrUnusableContent) {
				return fail(bidding.CodeBadInput, "input %s: %v", in.Source(), err)
			}
			return fail(bidding.CodeFetchFailed, "input %s: %v", in.Source(), err)
		}
		task.Inputs = append(task.Inputs, exec.Mount{Source: p, Target: in.Path})
	}
	engine := spec.Engine.Kind()
	switch {
	case spec.Engine.Wasm != nil:
		w := spec.Engine.Wasm
		mod, digest, err := ex.cfg.Content.Module(ctx, w.Module, hints, maxModuleSize)
		if err != nil {
			if ctx.Err() != nil && e.isCancelled() {
				return fail(bidding.CodeCancelled, "cancelled while fetching")
			}
			if errors.Is(err, ErrContentTooLarge) {
				return fail(bidding.CodeInputTooLarge, "module %s refused: %v", w.Module, err)
			}
			return fail(bidding.CodeFetchFailed, "module %s not found: %v", w.Module, err)
		}
		if len(mod) == 0 {
			return fail(bidding.CodeBadRequest, "module %s is empty (0 bytes): not a WebAssembly module; add the .wasm file and submit its CID", w.Module)
		}
		task.WASM = &exec.WASMSpec{Module: mod, Digest: digest, Entrypoint: w.Entrypoint,
			Deterministic: spec.Deterministic(), Seed: sha256.Sum256(e.award.JobCID.Bytes())}
		task.Args, task.Env = w.Args, withSecrets(w.Env, e.secrets)
	case spec.Engine.Docker != nil:
		d := spec.Engine.Docker
		task.Docker = &exec.DockerSpec{Image: d.Image, Entrypoint: d.Entrypoint}
		if d.ImageCID.Defined() {
			tar := filepath.Join(dir, "image.tar")
			if err := ex.cfg.Content.WriteTo(ctx, d.ImageCID, tar); err != nil {
				if errors.Is(err, ErrUnusableContent) {
					return fail(bidding.CodeBadInput, "image %s: %v", d.ImageCID, err)
				}
				return fail(bidding.CodeFetchFailed, "image %s: %v", d.ImageCID, err)
			}
			task.Docker.ImageTar = tar
		}
		task.Args, task.Env = d.Args, withSecrets(d.Env, e.secrets)
	}
	rc.Timings.Fetch = time.Since(t0)

	ex.status(e, bidding.PhaseRunning)
	logs := ex.startLogs(e)
	task.StdoutTap, task.StderrTap = logs.writer(0), logs.writer(1)
	t1 := time.Now()
	ex.executions.Add(1)
	res, runErr := ex.cfg.Runner.Run(ctx, engine, task)
	rc.Timings.Run = time.Since(t1)
	logs.close()
	handedOver = true
	return &ranTask{dir: dir, logs: logs, task: task, res: res, err: runErr}, bidding.AwardCompleted
}

// publish imports, pins and provides a run's stdout, stderr and outputs,
// fills rc and returns the award's final state.
func (ex *executor) publish(ctx context.Context, e *execution, rc *bidding.Receipt, r *ranTask) bidding.AwardState {
	defer ex.dirs.give(r.dir)
	spec, task, res, runErr := e.spec, r.task, r.res, r.err
	fail := func(code bidding.Code, format string, args ...any) bidding.AwardState {
		return failReceipt(rc, code, format, args...)
	}
	ex.status(e, bidding.PhasePublishing)
	t2 := time.Now()
	if res != nil {
		rc.ExitCode = res.ExitCode
		err := os.MkdirAll(task.OutputsDir, 0o700)
		if err == nil && tamperOutputs != nil {
			err = tamperOutputs(task.OutputsDir, ex.self) // a liar's build only (tamper.go)
		}
		var roots [3]cid.Cid
		if err == nil {
			roots, err = ex.cfg.Content.Publish(ctx, res.Stdout, res.Stderr, task.OutputsDir)
		}
		if err != nil && runErr == nil {
			return fail(bidding.CodePublishFailed, "outputs: %v", err)
		}
		rc.Stdout, rc.Stderr, rc.OutputsRoot = roots[0], roots[1], roots[2]
		if err == nil && runErr == nil && len(spec.Publish) > 0 {
			if err := ex.publishRemote(ctx, spec, rc, task.OutputsDir); err != nil {
				rc.Timings.Publish = time.Since(t2)
				return fail(bidding.CodePublishFailed, "%v", err)
			}
		}
	}
	rc.Timings.Publish = time.Since(t2)
	switch {
	case runErr == nil && res != nil && res.Trap != "":
		return fail(bidding.CodeTrap, "the module trapped: %s (exit code %d; the trap ends its stderr)", res.Trap, res.ExitCode)
	case runErr == nil:
		return bidding.AwardCompleted
	case e.isCancelled():
		return fail(bidding.CodeCancelled, "cancelled by the requester")
	case errors.Is(runErr, exec.ErrTimeout):
		return fail(bidding.CodeTimeout, "job exceeded its timeout of %s", spec.Timeout)
	case errors.Is(runErr, exec.ErrMemoryLimit):
		return fail(bidding.CodeOutOfMemory, "job exceeded its memory limit: %v", runErr)
	case errors.Is(runErr, exec.ErrDiskLimit):
		return fail(bidding.CodeDiskLimit, "job exceeded its disk limit of %s (resources.disk): %v", jobspec.FormatSize(spec.Resources.Disk), runErr)
	case errors.Is(runErr, exec.ErrSandboxCrashed):
		return fail(bidding.CodeWorkerCrashed, "%v", runErr)
	case errors.Is(runErr, exec.ErrInvalidModule), errors.Is(runErr, exec.ErrInvalidTask):
		return fail(bidding.CodeBadRequest, "%v", runErr)
	default:
		return fail(bidding.CodeEngineError, "%v", runErr)
	}
}

func (e *execution) isCancelled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cancelled
}

// interruptedReceipt signs the receipt of an award that was in progress
// when the node stopped.
func (ex *executor) interruptedReceipt(a *awardRecord) ([]byte, error) {
	job, err := cid.Decode(a.Job)
	if err != nil {
		return nil, err
	}
	id, err := bidding.ParseAwardID(a.ID)
	if err != nil {
		return nil, err
	}
	req, err := peer.Decode(a.Requester)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rc := &bidding.Receipt{Version: bidding.WireVersion, JobCID: job, AwardID: id, Requester: req, Executor: ex.self,
		ErrorCode: bidding.CodeEngineError, Error: "the executor restarted before the job finished", StartedAt: a.Accepted, FinishedAt: now}
	b, _, err := bidding.EncodeReceipt(ex.cfg.Key, rc)
	return b, err
}
