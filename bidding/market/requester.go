package market

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Errors of Submit and of job runs.
var (
	// ErrAwardLost: the executor declined, died or failed retryably; the
	// requester moves on to the next bid.
	errAwardLost = errors.New("award lost")
)

// sink routes bids of a job in its bid window to its selector.
type sink struct {
	sel    *bidding.Selector
	notify chan struct{}

	mu    sync.Mutex
	holds []func() // end the contention of bids received (close their streams)
}

// hold records how to tell a bidder its bid is out of contention.
func (s *sink) hold(release func()) {
	if release == nil {
		return
	}
	s.mu.Lock()
	s.holds = append(s.holds, release)
	s.mu.Unlock()
}

// releaseAll ends the contention of every bid received so far: bidders free
// the capacity they reserved (winners get their award on its own stream).
func (s *sink) releaseAll() {
	s.mu.Lock()
	holds := s.holds
	s.holds = nil
	s.mu.Unlock()
	for _, f := range holds {
		f()
	}
}

func (s *sink) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Submit stores the spec block and starts the job. The job ID is the spec's
// CID. Submitting a spec whose job is in flight or completed returns that
// job (existing=true); a failed or cancelled job runs again.
func (m *Market) Submit(ctx context.Context, spec *jobspec.Spec) (id cid.Cid, existing bool, err error) {
	block, id, err := jobspec.Encode(spec)
	if err != nil {
		return cid.Undef, false, err
	}
	b, err := blocks.NewBlockWithCid(block, id)
	if err != nil {
		return cid.Undef, false, err
	}
	if err := m.cfg.Content.PutBlock(ctx, b); err != nil {
		return cid.Undef, false, fmt.Errorf("store job spec: %w", err)
	}
	now := time.Now()
	j := &Job{ID: id.String(), Name: spec.Name, Type: string(spec.Type), Engine: spec.Engine.Kind(), Count: spec.Count,
		State: Pending, Created: now, Updated: now}
	j.log(Event{Time: now, Type: "state", State: Pending, Message: "submitted"})
	if err := m.jobs.Create(ctx, j); err != nil {
		if !errors.Is(err, ErrJobExists) {
			return cid.Undef, false, err
		}
		old, _ := m.jobs.Get(id.String())
		if old.State != Failed && old.State != Cancelled {
			// A concurrent Create may not have synced yet.
			if err := m.jobs.Sync(ctx, id.String()); err != nil {
				return cid.Undef, false, err
			}
			return id, true, nil
		}
		err = m.jobs.Update(ctx, id.String(), func(j *Job) error {
			j.State, j.Error, j.ErrorCode, j.Created = Pending, "", "", now
			j.Bids, j.Declines = nil, nil
			j.log(Event{Type: "state", State: Pending, Message: "resubmitted"})
			return nil
		})
		if err != nil {
			return cid.Undef, false, err
		}
		if err := m.jobs.Sync(ctx, id.String()); err != nil {
			return cid.Undef, false, err
		}
	}
	m.startLoop(id)
	return id, false, nil
}

// Cancel stops a job: its awards are cancelled on their executors.
func (m *Market) Cancel(ctx context.Context, id string) error {
	j, err := m.jobs.Get(id)
	if err != nil {
		return err
	}
	if j.State.Terminal() {
		return fmt.Errorf("job %s is already %s", id, j.State)
	}
	m.mu.Lock()
	stop := m.loops[id]
	m.mu.Unlock()
	err = m.jobs.Update(ctx, id, func(j *Job) error {
		j.State = Cancelled
		j.ErrorCode, j.Error = bidding.CodeCancelled, "cancelled by the user"
		j.log(Event{Type: "state", State: Cancelled, Message: "cancelled by the user"})
		return nil
	})
	if stop != nil {
		stop()
	}
	return err
}

func (m *Market) startLoop(id cid.Cid) {
	ctx, cancel := context.WithCancel(m.ctx)
	m.mu.Lock()
	if _, running := m.loops[id.String()]; running {
		m.mu.Unlock()
		cancel()
		return
	}
	m.loops[id.String()] = cancel
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.loops, id.String())
			m.mu.Unlock()
			cancel()
		}()
		m.runJob(ctx, id)
	}()
}

// resumeJobs restarts the loops of jobs that were in flight when the node
// stopped.
func (m *Market) resumeJobs() {
	for _, j := range m.jobs.List() {
		if j.State.Terminal() {
			continue
		}
		id, err := cid.Decode(j.ID)
		if err != nil {
			continue
		}
		m.log.Info("resuming job", "job", j.ID, "state", j.State)
		m.startLoop(id)
	}
}

func (m *Market) update(id cid.Cid, fn func(j *Job)) {
	err := m.jobs.Update(context.Background(), id.String(), func(j *Job) error {
		if j.State.Terminal() {
			return errTerminal
		}
		fn(j)
		return nil
	})
	if err != nil && !errors.Is(err, errTerminal) {
		m.log.Warn("job store update failed", "job", id, "err", err)
	}
}

var errTerminal = errors.New("job is terminal")

func (m *Market) setState(id cid.Cid, s State, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	m.update(id, func(j *Job) {
		j.State = s
		j.log(Event{Type: "state", State: s, Message: msg})
	})
}

// fail ends the job with the outcome code and message.
func (m *Market) fail(id cid.Cid, code bidding.Code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	m.update(id, func(j *Job) {
		j.State, j.ErrorCode, j.Error = Failed, code, msg
		j.log(Event{Type: "state", State: Failed, Message: msg})
	})
}

// runJob drives one job from announcement to its last receipt.
func (m *Market) runJob(ctx context.Context, id cid.Cid) {
	b, err := m.cfg.Content.GetBlock(ctx, id, nil)
	if err != nil {
		m.fail(id, bidding.CodeSpecUnavailable, "job spec block unavailable: %v", err)
		return
	}
	spec, err := jobspec.Decode(b.RawData())
	if err != nil {
		m.fail(id, bidding.CodeBadSpec, "job spec: %v", err)
		return
	}
	block := b.RawData()
	job, err := m.jobs.Get(id.String())
	if err != nil {
		return
	}
	queueDeadline := job.Created.Add(spec.QueueTimeout)
	sel, err := bidding.NewSelector(id, spec, time.Now(), bidding.WithWindow(m.cfg.BidWindow), bidding.WithOrgResolver(m.orgsOf()),
		bidding.WithTotal(m.inputsTotal(ctx, spec)))
	if err != nil {
		m.fail(id, bidding.CodeBadSpec, "%v", err)
		return
	}
	sk := &sink{sel: sel, notify: make(chan struct{}, 1)}
	m.mu.Lock()
	m.sinks[id] = sk
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.sinks, id)
		m.mu.Unlock()
		sk.releaseAll()
	}()

	ops := spec.Type == jobspec.Ops
	run := &jobRun{m: m, id: id, spec: spec, block: block, sel: sel, attempt: job.Attempts, ops: ops,
		need: max(spec.Count-len(job.Receipts), 0)}
	want := spec.Count
	if ops {
		want = -1 // every node that bids in the first window
	}
	// Reattach to awards accepted before a restart.
	var resumed []AwardInfo
	for _, a := range job.Awards {
		switch a.State {
		case "accepted", "fetching", "running", "publishing":
			resumed = append(resumed, a)
		}
	}
	done := len(job.Receipts)
	if want > 0 {
		want -= done
	}
	if len(resumed) > 0 {
		got := run.slots(ctx, nil, resumed, ops)
		done += got
		if !ops {
			want = run.remaining()
		} else if want < 0 && done > 0 {
			want = 0
		}
	}

	backoffAttempt := 0
	solicit := true // the first round asks chosen peers only
	for want != 0 {
		if ctx.Err() != nil {
			return
		}
		if !ops {
			// A late receipt of a superseded award may have settled it.
			if want = run.remaining(); want == 0 {
				break
			}
		}
		if time.Now().After(queueDeadline) {
			m.failNoExecutor(id, spec)
			return
		}
		picks := sel.Pick(time.Now())
		if len(picks) == 0 {
			run.attempt++
			sel.Restart(time.Now())
			m.update(id, func(j *Job) {
				j.Attempts = run.attempt
				j.State = Bidding
			})
			round, targeted, err := m.announce(ctx, id, spec, run.attempt, sk, solicit)
			solicit = false
			if err != nil {
				m.log.Warn("announce failed", "job", id, "err", err)
				round = fmt.Sprintf("announcement failed: %v", err)
			}
			m.update(id, func(j *Job) {
				j.log(Event{Type: "announce", State: Bidding, Message: fmt.Sprintf("attempt %d: %s", run.attempt, round)})
			})
			if !m.awaitWindow(ctx, sk) {
				return
			}
			picks = sel.Pick(time.Now())
			sk.releaseAll()
			if len(picks) == 0 && targeted {
				continue // nobody asked can run it: announce to all at once
			}
		}
		if len(picks) == 0 {
			wait := bidding.NextAnnounce(backoffAttempt)
			backoffAttempt++
			m.setState(id, Pending, "no acceptable bid yet; announcing again in %s", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			case <-sk.notify: // a late bid may do
			}
			continue
		}
		backoffAttempt = 0
		if want > 0 && len(picks) > want { // want < 0: an ops job takes every pick
			picks = picks[:want]
		}
		run.slots(ctx, picks, nil, ops)
		if ops {
			want = 0 // ops awards do not fail over: each names its node
		} else {
			want = run.remaining()
		}
	}
	if ctx.Err() != nil {
		return
	}
	m.finish(id)
}

// finish sets the final state from the receipts.
func (m *Market) finish(id cid.Cid) {
	m.update(id, func(j *Job) {
		// The job's code is its first failure's.
		var failures []string
		var code bidding.Code
		failed := func(c bidding.Code, msg string) {
			if code == "" {
				code = c
			}
			failures = append(failures, msg)
		}
		for _, r := range j.Receipts {
			switch {
			case r.Error != "":
				failed(receiptCode(r), fmt.Sprintf("%s on %s", r.Error, short(r.Executor)))
			case r.ExitCode != 0:
				failed(bidding.CodeExitNonZero, fmt.Sprintf("exit code %d on %s", r.ExitCode, short(r.Executor)))
			}
		}
		for _, a := range j.Awards {
			if a.State == "lost" && j.Type == string(jobspec.Ops) {
				c := a.ErrorCode
				if c == "" {
					c = bidding.CodeAwardLost
				}
				failed(c, fmt.Sprintf("%s lost: %s", short(a.Executor), a.Error))
			}
		}
		if len(j.Receipts) == 0 {
			failed(bidding.CodeNoReceipt, "no receipt")
		}
		if len(failures) == 0 {
			j.State = Completed
			j.log(Event{Type: "state", State: Completed, Message: fmt.Sprintf("completed (%d receipt(s))", len(j.Receipts))})
			return
		}
		j.State, j.ErrorCode = Failed, code
		j.Error = strings.Join(failures, "; ")
		j.log(Event{Type: "state", State: Failed, Message: "failed: " + j.Error})
	})
}

// failNoExecutor ends a job that found no executor within its queue
// timeout, listing the decline reasons.
func (m *Market) failNoExecutor(id cid.Cid, spec *jobspec.Spec) {
	j, err := m.jobs.Get(id.String())
	if err != nil {
		return
	}
	reasons := map[string]bool{}
	var list []string
	for _, d := range j.Declines {
		r := fmt.Sprintf("declined by %s: %s", short(d.Peer), d.Reason)
		if !reasons[r] {
			reasons[r] = true
			list = append(list, r)
		}
	}
	for _, a := range j.Awards {
		if a.Error == "" {
			continue
		}
		r := fmt.Sprintf("award to %s %s: %s", short(a.Executor), a.State, a.Error)
		if !reasons[r] {
			reasons[r] = true
			list = append(list, r)
		}
	}
	sort.Strings(list)
	msg := fmt.Sprintf("no executor completed the job within its queue timeout (%s)", spec.QueueTimeout)
	if len(list) > 0 {
		msg += ": " + strings.Join(list, "; ")
	} else {
		msg += ": no node answered"
	}
	m.fail(id, bidding.CodeNoExecutor, "%s", msg)
}

// awaitWindow waits until the bid window may close. It returns false when
// ctx ended.
func (m *Market) awaitWindow(ctx context.Context, sk *sink) bool {
	for {
		now := time.Now()
		if sk.sel.Done(now) {
			return true
		}
		t := time.NewTimer(time.Until(sk.sel.Deadline()))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-sk.notify:
		case <-t.C:
		}
		t.Stop()
	}
}

// announce bids on the job locally, then asks for bids: in a solicited
// round only the peers solicitTargets picks, each directly over a stream;
// otherwise everyone, on the topic, and the DHT providers of its inputs
// directly. It returns what it did, for the job's log, and whether only
// chosen peers were asked.
func (m *Market) announce(ctx context.Context, id cid.Cid, spec *jobspec.Spec, attempt int, sk *sink, solicit bool) (round string, targeted bool, err error) {
	a, err := bidding.NewAnnounce(spec, m.self, m.tr.addrs(), attempt, time.Now())
	if err != nil {
		return "", false, err
	}
	a.Certs = m.certs()
	data, err := bidding.Seal(m.cfg.Key, a)
	if err != nil {
		return "", false, err
	}
	// Our own bid first, in-process. When it alone closes the window (this
	// node is idle and holds every input, or the job is stateless), nobody
	// else could win: the job is not announced at all.
	switch r := m.exec.answer(ctx, a).(type) {
	case *bidding.Bid:
		if !m.deliverBid(r, func() { m.exec.release(r.JobCID) }) {
			m.exec.release(r.JobCID)
		}
	case *bidding.Decline:
		m.deliverDecline(r)
	}
	if sk.sel.Done(time.Now()) {
		return "not announced: this node bids idle and holds every input", false, nil
	}
	if solicit {
		if targets := m.solicitTargets(ctx, spec); len(targets) > 0 {
			ids := make([]peer.ID, len(targets))
			for i, p := range targets {
				ids[i] = p.ID
			}
			sk.sel.Solicit(ids, time.Now())
			for _, p := range targets {
				m.wg.Add(1)
				go func() {
					defer m.wg.Done()
					m.ask(ctx, p, data, sk)
				}()
			}
			return fmt.Sprintf("asked %d peer(s) directly: %s", len(targets), shortList(ids)), true, nil
		}
	}
	if len(spec.Inputs) > 0 {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.askProviders(ctx, spec, data, sk)
		}()
	}
	if spec.Type == jobspec.Ops {
		// An ops job wants every node: its window may close once every
		// peer of the topic answered, and waits longer for slow ones.
		if peers := m.tr.topicPeers(); len(peers) > 0 {
			sk.sel.Solicit(peers, time.Now())
		}
	}
	if err := m.tr.publish(ctx, data); err != nil {
		return "", false, fmt.Errorf("publish announcement: %w", err)
	}
	return "announced to all on the topic", false, nil
}

// solicitTargets picks the peers a job's first round asks, so that a
// network of any size answers it with a handful of bids: the DHT providers
// of its inputs (they bid best); for a job without inputs or that may run
// anywhere, also SolicitFanout peers of the topic at random (the requester
// bids too), or its named executors. Nil means: ask everyone. Ops jobs,
// which want every node, are never solicited.
func (m *Market) solicitTargets(ctx context.Context, spec *jobspec.Spec) []peer.AddrInfo {
	if spec.Type == jobspec.Ops {
		return nil
	}
	seen := map[peer.ID]bool{m.self: true}
	var out []peer.AddrInfo
	add := func(ai peer.AddrInfo) {
		if seen[ai.ID] || len(out) >= bidding.MaxSolicited || !m.eligible(spec, ai.ID) {
			return
		}
		seen[ai.ID] = true
		out = append(out, ai)
	}
	if len(spec.Inputs) > 0 {
		fctx, cancel := context.WithTimeout(ctx, bidding.SolicitLookup)
		for _, in := range spec.Inputs {
			for _, p := range m.cfg.Content.FindProviders(fctx, in.CID, 8) {
				add(p)
			}
		}
		cancel()
		if spec.Constraints.Locality != jobspec.Anywhere {
			return out
		}
	}
	var pool []peer.ID
	if named := spec.Constraints.Executors.Peers; len(named) > 0 {
		pool = slices.Clone(named)
	} else {
		pool = m.tr.topicPeers()
	}
	rand.Shuffle(len(pool), func(i, k int) { pool[i], pool[k] = pool[k], pool[i] })
	fanout := len(out) + max(spec.Count, 1) + bidding.SolicitFanout - 1
	for _, p := range pool {
		if len(out) >= fanout {
			break
		}
		add(peer.AddrInfo{ID: p})
	}
	return out
}

// askProviders sends the announcement directly to the DHT providers of the
// job's inputs, so data holders hear of it even when gossip drops it.
func (m *Market) askProviders(ctx context.Context, spec *jobspec.Spec, data []byte, sk *sink) {
	fctx, cancel := context.WithTimeout(ctx, DefaultProviderAsk)
	defer cancel()
	asked := map[peer.ID]bool{m.self: true}
	var wg sync.WaitGroup
	for _, in := range spec.Inputs {
		for _, p := range m.cfg.Content.FindProviders(fctx, in.CID, 8) {
			if asked[p.ID] {
				continue
			}
			asked[p.ID] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.ask(ctx, p, data, sk)
			}()
		}
	}
	wg.Wait()
}

// ask sends a sealed announcement to p over ProtocolBid and takes its
// answer. A bid keeps the stream open while it is in contention; anything
// else (a decline, no answer, a refused bid) tells the job's selector that
// p will not bid in this window.
func (m *Market) ask(ctx context.Context, p peer.AddrInfo, data []byte, sk *sink) {
	answered := false
	defer func() {
		if !answered {
			sk.sel.Answered(p.ID)
			sk.poke()
		}
	}()
	if len(p.Addrs) > 0 {
		m.tr.addAddrs(p.ID, p.Addrs, time.Minute)
	}
	s, err := m.tr.openStream(ctx, p.ID, bidding.ProtocolBid)
	if err != nil {
		return
	}
	defer s.Close()
	deadline(s, bidding.StreamTimeout)
	if err := bidding.WriteMsg(s, data); err != nil {
		return
	}
	msg, _, err := recv(s, bidding.MaxMessageSize, bidding.KindBid, bidding.KindDecline)
	if err != nil || msg.Signer() != p.ID {
		return // answered over gossip already, or nothing to say
	}
	switch r := msg.(type) {
	case *bidding.Bid:
		done := make(chan struct{})
		if m.deliverBid(r, func() { close(done) }) {
			answered = true
			select { // keep the stream while the bid is in contention
			case <-done:
			case <-ctx.Done():
			case <-time.After(bidding.DefaultReservationTTL):
			}
		}
	case *bidding.Decline:
		m.deliverDecline(r)
		answered = true
	}
}

func shortList(ps []peer.ID) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = short(p.String())
	}
	return strings.Join(out, ", ")
}

// deliverBid hands a verified bid to its job's bid window and reports
// whether it was taken; release is called once the bid is out of contention
// (only when taken).
func (m *Market) deliverBid(b *bidding.Bid, release func()) bool {
	m.mu.Lock()
	sk := m.sinks[b.JobCID]
	m.mu.Unlock()
	if sk == nil {
		return false // the job is not collecting bids (late bid)
	}
	m.learn(b.Bidder, b.Certs)
	if err := sk.sel.Offer(b, time.Now()); err != nil {
		m.log.Debug("bid refused", "job", b.JobCID, "bidder", b.Bidder, "err", err)
		m.ignoredBid(b, err)
		sk.sel.Answered(b.Bidder)
		sk.poke()
		return false
	}
	sk.hold(release)
	m.update(b.JobCID, func(j *Job) {
		info := BidInfo{Peer: b.Bidder.String(), LocalBytes: b.LocalBytes, TotalBytes: b.TotalBytes, FreeSlots: b.FreeSlots,
			QueueDepth: b.QueueDepth, EstStart: b.EstStart, Received: time.Now()}
		for i := range j.Bids {
			if j.Bids[i].Peer == info.Peer {
				j.Bids[i] = info
				return
			}
		}
		if len(j.Bids) < maxRecorded {
			j.Bids = append(j.Bids, info)
		}
	})
	sk.poke()
	return true
}

// maxRecorded bounds the bids and declines kept in a job record.
const maxRecorded = 256

// deliverDecline records a bidder's refusal of an announcement.
func (m *Market) deliverDecline(d *bidding.Decline) {
	m.mu.Lock()
	sk := m.sinks[d.JobCID]
	m.mu.Unlock()
	if sk != nil {
		sk.sel.Answered(d.Bidder)
		sk.poke()
	}
	m.update(d.JobCID, func(j *Job) {
		for _, x := range j.Declines {
			if x.Peer == d.Bidder.String() && x.Code == string(d.Code) {
				return
			}
		}
		if len(j.Declines) < maxRecorded {
			j.Declines = append(j.Declines, DeclineInfo{Peer: d.Bidder.String(), Code: string(d.Code), Reason: d.Reason, Time: time.Now()})
		}
		j.log(Event{Type: "decline", Peer: d.Bidder.String(), Message: fmt.Sprintf("declined by %s: %s (%s)", short(d.Bidder.String()), d.Reason, d.Code)})
	})
}

func short(p string) string {
	if len(p) > 16 {
		return p[:8] + "…" + p[len(p)-6:]
	}
	return p
}

// jobRun holds what the award slots of one job share.
type jobRun struct {
	m       *Market
	id      cid.Cid
	spec    *jobspec.Spec
	block   []byte
	sel     *bidding.Selector
	attempt int
	ops     bool
	mu      sync.Mutex
	awards  int
	need    int                 // batch: receipts still needed
	chains  map[*chain]struct{} // award slots following an award
}

// slots runs one award slot per pick (or per resumed award) in parallel and
// returns how many ended with a receipt. A batch slot fails over to the
// next-best bid; an ops slot does not.
func (r *jobRun) slots(ctx context.Context, picks []bidding.Bid, resumed []AwardInfo, ops bool) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	run := func(first func(context.Context, *chain) (*bidding.Receipt, error)) {
		defer wg.Done()
		cctx, ch := r.newChain(ctx)
		defer r.endChain(ch)
		rc, err := first(cctx, ch)
		for err != nil && !ops && cctx.Err() == nil && r.remaining() > 0 {
			next, ok := r.sel.Next(time.Now())
			if !ok {
				return
			}
			rc, err = r.award(cctx, next, ch)
		}
		if rc != nil {
			mu.Lock()
			got++
			mu.Unlock()
		}
	}
	for _, b := range picks {
		wg.Add(1)
		go run(func(ctx context.Context, ch *chain) (*bidding.Receipt, error) { return r.award(ctx, b, ch) })
	}
	for _, a := range resumed {
		wg.Add(1)
		go run(func(ctx context.Context, ch *chain) (*bidding.Receipt, error) { return r.reattach(ctx, a, ch) })
	}
	wg.Wait()
	return got
}

// award offers the job to a bidder and follows the run to its receipt.
func (r *jobRun) award(ctx context.Context, b bidding.Bid, ch *chain) (*bidding.Receipt, error) {
	m := r.m
	r.mu.Lock()
	if !r.ops && (ch.settled || r.need <= 0) {
		r.mu.Unlock()
		return nil, errSettled
	}
	r.awards++
	n := r.awards
	r.mu.Unlock()
	a := bidding.NewAward(r.id, r.block, m.self, b.Bidder, m.tr.providerHints(), n, time.Now())
	idStr := a.AwardID.String()
	m.update(r.id, func(j *Job) {
		j.State = Awarded
		j.Awards = append(j.Awards, AwardInfo{ID: idStr, Executor: b.Bidder.String(), State: "offered", Time: time.Now()})
		j.log(Event{Type: "award", State: Awarded, Peer: b.Bidder.String(), Message: fmt.Sprintf("awarded to %s (award %s)", short(b.Bidder.String()), idStr[:8])})
	})
	conn, err := m.tr.dial(ctx, b.Bidder, bidding.ProtocolAward)
	if err != nil {
		return nil, r.lose(b.Bidder, idStr, err)
	}
	defer conn.Close()
	deadline(conn, bidding.StreamTimeout)
	if err := m.tr.send(conn, a); err != nil {
		return r.unconfirmed(ctx, conn, a.AwardID, b.Bidder, ch, err)
	}
	msg, _, err := recv(conn, bidding.MaxMessageSize, bidding.KindAccept, bidding.KindDecline)
	if err != nil {
		return r.unconfirmed(ctx, conn, a.AwardID, b.Bidder, ch, err)
	}
	if msg.Signer() != b.Bidder {
		return nil, r.lose(b.Bidder, idStr, fmt.Errorf("answer signed by %s", msg.Signer()))
	}
	switch x := msg.(type) {
	case *bidding.Decline:
		m.deliverDecline(x)
		m.update(r.id, func(j *Job) {
			if aw := j.award(idStr); aw != nil {
				aw.State, aw.ErrorCode, aw.Error = "declined", x.Code, string(x.Code)+": "+x.Reason
			}
		})
		r.sel.Exclude(b.Bidder)
		return nil, errAwardLost
	case *bidding.Accept:
		if x.AwardID != a.AwardID {
			return nil, r.lose(b.Bidder, idStr, errors.New("accept for another award"))
		}
	}
	accepted := time.Now()
	r.markAccepted(ctx, idStr, b.Bidder, accepted, "accepted by %s")
	return r.follow(ctx, conn, a.AwardID, b.Bidder, accepted, ch, false)
}

// markAccepted records an award as accepted, and syncs it: an accepted
// award survives a kill -9 of this node, so that a restart re-attaches to
// its run instead of awarding the job a second time.
func (r *jobRun) markAccepted(ctx context.Context, idStr string, exec peer.ID, at time.Time, format string) {
	m := r.m
	m.update(r.id, func(j *Job) {
		j.State = Running
		if aw := j.award(idStr); aw != nil {
			aw.State, aw.Accepted = "accepted", at
		}
		j.log(Event{Type: "status", State: Running, Peer: exec.String(), Message: fmt.Sprintf(format, short(exec.String()))})
	})
	if err := m.jobs.Sync(ctx, r.id.String()); err != nil {
		m.log.Warn("job store sync failed", "job", r.id, "err", err)
	}
}

// unconfirmed follows an award whose Accept did not arrive (the stream
// broke or the Accept deadline passed after the award was written): the
// executor may have accepted and be running it, so the requester asks it
// (Query, bounded by the heartbeat deadline) before it fails over, and
// re-attaches when the executor answers with the award's status.
func (r *jobRun) unconfirmed(ctx context.Context, conn io.Closer, award bidding.AwardID, exec peer.ID, ch *chain, cause error) (*bidding.Receipt, error) {
	_ = conn.Close()
	r.m.update(r.id, func(j *Job) {
		j.log(Event{Type: "status", Peer: exec.String(), Message: fmt.Sprintf("no Accept from %s (%v); asking it for award %s", short(exec.String()), cause, award.String()[:8])})
	})
	return r.follow(ctx, nil, award, exec, time.Now(), ch, true)
}

// reattach follows an award accepted before a restart, by querying its
// executor.
func (r *jobRun) reattach(ctx context.Context, a AwardInfo, ch *chain) (*bidding.Receipt, error) {
	id, err := bidding.ParseAwardID(a.ID)
	if err != nil {
		return nil, err
	}
	exec, err := peer.Decode(a.Executor)
	if err != nil {
		return nil, err
	}
	r.sel.Exclude(exec) // do not award it the same job again
	accepted := a.Accepted
	if accepted.IsZero() { // a record written before Accepted existed
		accepted = a.Time
	}
	return r.follow(ctx, nil, id, exec, accepted, ch, false)
}

// follow reads statuses and the receipt of an accepted award (or of one
// whose Accept was lost: unconfirmed, it starts with a Query). When the
// stream breaks it asks the executor over ProtocolReceipt before it
// declares the award lost: bounded by the heartbeat deadline while a
// connection to the executor remains, by ReattachTimeout when none does
// (the executor's process likely died: its connections closed). Silence
// past the heartbeat deadline is a loss at once. Heartbeats keep an award
// alive only until its run deadline, accepted + spec.timeout +
// PublishGrace. Every loss supersedes the award: its executor is sent a
// Cancel and a late receipt is still read (supersede).
func (r *jobRun) follow(ctx context.Context, conn io.ReadWriteCloser, award bidding.AwardID, exec peer.ID, accepted time.Time, ch *chain, unconfirmed bool) (*bidding.Receipt, error) {
	m := r.m
	idStr := award.String()
	live := bidding.NewLiveness(award, exec, time.Now())
	runDeadline := accepted.Add(r.spec.Timeout + m.cfg.PublishGrace)
	var seq int64
	requeried := false
	resuming := conn == nil && !unconfirmed
	if resuming {
		// A requester back from a restart asks once, however late: the
		// receipt may be waiting.
		runDeadline = maxTime(runDeadline, time.Now().Add(2*bidding.StreamTimeout))
	}
	var answerBy time.Time // a re-attach's first answer is due by then
	stop := context.AfterFunc(ctx, func() {
		if conn != nil {
			_ = conn.Close()
		}
	})
	defer stop()
	// drop loses the award and supersedes it: Cancel on the stream (when
	// open) and over ProtocolReceipt, and a late receipt is still read.
	drop := func(reason string, cause error) error {
		err := r.lose(exec, idStr, cause)
		r.supersede(conn, award, exec, ch, reason)
		return err
	}
	overdue := func() error {
		return drop("the run exceeded its deadline", fmt.Errorf("%w: no receipt by %s (accepted %s, timeout %s, publish grace %s); cancelled",
			errRunOverdue, runDeadline.Format(time.RFC3339), accepted.Format(time.RFC3339), r.spec.Timeout, m.cfg.PublishGrace))
	}
	fastReattach := false // the stream broke and no connection remained
	for {
		if !time.Now().Before(runDeadline) {
			return nil, overdue()
		}
		if conn == nil {
			// The re-query may take no longer than the executor's heartbeat
			// deadline: a dead peer's QUIC address answers nothing and
			// would hold the dial for the whole stream timeout.
			limit := maxTime(live.Deadline(), time.Now().Add(time.Second))
			switch {
			case resuming:
				// After a restart the connection to the executor is new.
				limit = time.Now().Add(2 * bidding.StreamTimeout)
				resuming = false
			case fastReattach:
				limit = time.Now().Add(bidding.ReattachTimeout)
			}
			qctx, cancel := context.WithDeadline(ctx, minTime(limit, runDeadline))
			var err error
			conn, err = r.query(qctx, award, exec)
			cancel()
			if err != nil {
				if !time.Now().Before(runDeadline) {
					return nil, overdue()
				}
				if ctx.Err() != nil {
					return nil, r.abandon(award, exec, idStr, ch, ctx.Err())
				}
				return nil, drop("the requester lost the executor", fmt.Errorf("executor unreachable: %v", err))
			}
			answerBy = minTime(limit, runDeadline)
			requeried = true
			defer conn.Close()
		}
		due := minTime(live.Deadline(), runDeadline)
		if !answerBy.IsZero() {
			due = minTime(due, answerBy)
		}
		deadline(conn, max(time.Until(due), time.Millisecond))
		msg, raw, err := recv(conn, bidding.MaxMessageSize, bidding.KindStatus, bidding.KindReceipt, bidding.KindDecline)
		if err != nil {
			if ctx.Err() != nil {
				return nil, r.abandon(award, exec, idStr, ch, ctx.Err())
			}
			if !time.Now().Before(runDeadline) {
				return nil, overdue()
			}
			if requeried {
				return nil, drop("the requester lost the executor", fmt.Errorf("executor unreachable: %v", err))
			}
			// Silence past the heartbeat deadline: presumed dead, as the
			// protocol says (a re-query would only wait for a dead
			// connection to time out). A broken stream may be a broken
			// connection only: ask the executor once.
			if errors.Is(err, os.ErrDeadlineExceeded) || live.Dead(time.Now()) {
				return nil, drop("no heartbeat from the executor", fmt.Errorf("no heartbeat for %s", bidding.HeartbeatInterval*bidding.MissedHeartbeats))
			}
			_ = conn.Close()
			conn = nil
			fastReattach = !m.tr.connected(exec)
			continue
		}
		answerBy = time.Time{}
		if msg.Signer() != exec {
			return nil, drop("message signed by another peer", fmt.Errorf("message signed by %s, not the executor", msg.Signer()))
		}
		switch x := msg.(type) {
		case *bidding.Decline:
			return nil, drop("award declined", fmt.Errorf("%s: %s", x.Code, x.Reason))
		case *bidding.Status:
			if x.AwardID != award || x.Seq <= seq {
				continue
			}
			if unconfirmed {
				// The executor did accept: follow it, as if the Accept
				// had arrived.
				unconfirmed = false
				r.markAccepted(ctx, idStr, exec, time.Now(), "accepted by %s (its Accept was lost; re-attached by Query)")
			}
			seq = x.Seq
			_ = live.Observe(x, time.Now())
			if x.Phase != bidding.PhaseHeartbeat {
				m.update(r.id, func(j *Job) {
					if aw := j.award(idStr); aw != nil {
						aw.State = string(x.Phase)
					}
					j.log(Event{Type: "status", Peer: exec.String(), Message: fmt.Sprintf("%s on %s", x.Phase, short(exec.String()))})
				})
			}
		case *bidding.Receipt:
			if x.AwardID != award || x.JobCID != r.id || x.Requester != m.self {
				return nil, r.lose(exec, idStr, errors.New("receipt for another award"))
			}
			if !m.eligible(r.spec, x.Executor) {
				return nil, r.lose(exec, idStr, errors.New("receipt from an executor outside constraints.executors"))
			}
			return r.accept(x, raw, ch)
		}
	}
}

// abandon ends the following of an award whose job or chain ended: the
// executor is cancelled (best effort). When a late receipt of a superseded
// award settled the chain, the award is recorded as cancelled for that.
func (r *jobRun) abandon(award bidding.AwardID, exec peer.ID, idStr string, ch *chain, cause error) error {
	if by := r.settledLate(ch); by != "" {
		r.m.update(r.id, func(j *Job) {
			if aw := j.award(idStr); aw != nil {
				aw.State, aw.ErrorCode, aw.Error = "cancelled", bidding.CodeSuperseded, "a late receipt of award "+by[:min(8, len(by))]+" settled the job first"
			}
			j.log(Event{Type: "award", Peer: exec.String(), Message: fmt.Sprintf("award %s to %s cancelled: a late receipt settled the job first", idStr[:8], short(exec.String()))})
		})
	}
	r.cancelRemote(award, exec)
	return cause
}

// receiptInfo summarises a verified receipt whose block has CID rcid.
func receiptInfo(rc *bidding.Receipt, rcid string) ReceiptInfo {
	info := ReceiptInfo{CID: rcid, AwardID: rc.AwardID.String(), Executor: rc.Executor.String(), ExitCode: rc.ExitCode,
		Started: rc.StartedAt, Finished: rc.FinishedAt}
	if rc.ErrorCode != "" {
		info.ErrorCode, info.Error = rc.ErrorCode, fmt.Sprintf("%s: %s", rc.ErrorCode, rc.Error)
	}
	if rc.OutputsRoot.Defined() {
		info.Outputs = rc.OutputsRoot.String()
	}
	if rc.Stdout.Defined() {
		info.Stdout = rc.Stdout.String()
	}
	if rc.Stderr.Defined() {
		info.Stderr = rc.Stderr.String()
	}
	return info
}

// receiptCode is r's error code; a record written before ReceiptInfo had
// one holds it at the start of Error.
func receiptCode(r ReceiptInfo) bidding.Code {
	if r.ErrorCode != "" {
		return r.ErrorCode
	}
	head, _, _ := strings.Cut(r.Error, ":")
	if c := bidding.Code(head); c.Valid() {
		return c
	}
	return ""
}

// accept stores a verified receipt, once per award; it settles the chain
// unless a late receipt of a superseded award did first.
func (r *jobRun) accept(rc *bidding.Receipt, raw []byte, ch *chain) (*bidding.Receipt, error) {
	m := r.m
	rcid := bidding.ReceiptCID(raw)
	// This node's own executor stored and synced the block before it
	// sent it (finishAward): a second write would cost a second sync.
	if b, err := blocks.NewBlockWithCid(raw, rcid); err == nil && rc.Executor != m.self {
		_ = m.cfg.Content.PutBlock(context.Background(), b)
	}
	idStr := rc.AwardID.String()
	if rc.ErrorCode != "" && bidding.Retryable(rc.ErrorCode) {
		r.sel.Exclude(rc.Executor)
		m.update(r.id, func(j *Job) {
			if aw := j.award(idStr); aw != nil {
				aw.State, aw.ErrorCode, aw.Error = "failed", rc.ErrorCode, fmt.Sprintf("%s: %s", rc.ErrorCode, rc.Error)
			}
			j.log(Event{Type: "receipt", Peer: rc.Executor.String(), Message: fmt.Sprintf("retryable failure on %s: %s", short(rc.Executor.String()), rc.Error)})
		})
		return nil, errAwardLost
	}
	if !r.record(receiptInfo(rc, rcid.String()), ch, false) {
		return nil, errSettled
	}
	return rc, nil
}

// lose records an award as lost and excludes its executor.
func (r *jobRun) lose(exec peer.ID, award string, cause error) error {
	r.sel.Exclude(exec)
	code := bidding.CodeAwardLost
	if errors.Is(cause, errRunOverdue) {
		code = bidding.CodeRunOverdue
	}
	r.m.update(r.id, func(j *Job) {
		if aw := j.award(award); aw != nil {
			aw.State, aw.ErrorCode, aw.Error = "lost", code, cause.Error()
		}
		j.log(Event{Type: "error", Peer: exec.String(), Message: fmt.Sprintf("award to %s lost: %v", short(exec.String()), cause)})
	})
	return fmt.Errorf("%w: %v", errAwardLost, cause)
}

// query re-attaches to an award over ProtocolReceipt.
func (r *jobRun) query(ctx context.Context, award bidding.AwardID, exec peer.ID) (io.ReadWriteCloser, error) {
	m := r.m
	conn, err := m.tr.dial(ctx, exec, bidding.ProtocolReceipt)
	if err != nil {
		return nil, err
	}
	q := &bidding.Query{Version: bidding.WireVersion, AwardID: award, JobCID: r.id, Requester: m.self, IssuedAt: time.Now()}
	deadline(conn, bidding.StreamTimeout)
	if err := m.tr.send(conn, q); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// errRunOverdue: an accepted award had no receipt by its run deadline.
var errRunOverdue = errors.New("run overdue")

func (r *jobRun) cancelMsg(award bidding.AwardID, reason string) *bidding.Cancel {
	return &bidding.Cancel{Version: bidding.WireVersion, AwardID: award, JobCID: r.id, Requester: r.m.self, Reason: reason, IssuedAt: time.Now()}
}

// cancelRemote tells an executor to stop an award (best effort).
func (r *jobRun) cancelRemote(award bidding.AwardID, exec peer.ID) {
	m := r.m
	ctx, cancel := context.WithTimeout(m.ctx, bidding.StreamTimeout)
	defer cancel()
	conn, err := m.tr.dial(ctx, exec, bidding.ProtocolReceipt)
	if err != nil {
		return
	}
	defer conn.Close()
	deadline(conn, bidding.StreamTimeout)
	_ = m.tr.send(conn, r.cancelMsg(award, "cancelled by the requester"))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
