package market

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// requester is the requester's side of the market: the jobs this node
// submitted, each driven by a jobDriver around its
// bidding.RequesterMachine. It has its own lock; the executor's state is
// not behind it.
type requester struct {
	mu    sync.Mutex
	sinks map[cid.Cid]*sink   // jobs collecting bids
	loops map[string]*jobLoop // running job loops
	// lateHook, when set (by tests, before the first Submit), is called
	// after a late receipt was recorded on a job.
	lateHook func(job string)
}

// jobLoop is a running job loop: its stop, and its driver once it has one.
type jobLoop struct {
	stop   context.CancelFunc
	driver *jobDriver
}

// sink routes bids of a job in its bid window to its selector.
type sink struct {
	sel    *bidding.Selector
	notify chan struct{}
	onBid  func() // tells the job's driver a bid came (ends a backoff)

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

// SubmitOptions change how a job is submitted, not the job (its ID).
type SubmitOptions struct {
	// NoReuse runs the job afresh (--no-reuse): no receipt the network
	// holds is reused, and a job this node completed before runs again.
	NoReuse bool
	// Secrets hold one value for each of the spec's secrets (secrets.go):
	// kept in memory only, sealed into each award.
	Secrets map[string]string
	// Parent is the partitioned job a task belongs to (Job.Parent).
	Parent string
	// Exclude are executors not to award this run to (Job.Exclude).
	Exclude []peer.ID
}

// Submit stores the spec block and starts the job. The job ID is the spec's
// CID. Submitting a spec whose job is in flight or completed returns that
// job (existing=true); a failed or cancelled job runs again.
func (m *Market) Submit(ctx context.Context, spec *jobspec.Spec) (id cid.Cid, existing bool, err error) {
	return m.SubmitWith(ctx, spec, SubmitOptions{})
}

// SubmitWith is Submit with options: with NoReuse a completed job runs
// again as well; a spec that names secrets needs their values.
func (m *Market) SubmitWith(ctx context.Context, spec *jobspec.Spec, opts SubmitOptions) (id cid.Cid, existing bool, err error) {
	if spec.HasSecrets() || len(opts.Secrets) > 0 {
		return m.submitWithSecrets(ctx, spec, opts)
	}
	return m.submit(ctx, spec, opts)
}

func (m *Market) submit(ctx context.Context, spec *jobspec.Spec, opts SubmitOptions) (id cid.Cid, existing bool, err error) {
	if spec.Partition != nil {
		return cid.Undef, false, ErrPartitioned
	}
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
	now := m.cfg.Clock.Now()
	j := &Job{ID: id.String(), Name: spec.Name, Type: string(spec.Type), Engine: spec.Engine.Kind(), Count: spec.Count,
		State: Pending, Created: now, Updated: now, NoReuse: opts.NoReuse, Parent: opts.Parent, Exclude: peerStrings(opts.Exclude)}
	j.log(Event{Time: now, Type: "state", State: Pending, Message: "submitted"})
	if err := m.jobs.Create(ctx, j); err != nil {
		if !errors.Is(err, ErrJobExists) {
			return cid.Undef, false, err
		}
		old, _ := m.jobs.Get(id.String())
		rerun := old.State == Failed || old.State == Cancelled || (opts.NoReuse && old.State == Completed)
		if !rerun {
			// A concurrent Create may not have synced yet.
			if err := m.jobs.Sync(ctx, id.String()); err != nil {
				return cid.Undef, false, err
			}
			return id, true, nil
		}
		err = m.jobs.Update(ctx, id.String(), func(j *Job) error {
			// A new run of the record (not a move of the run that ended).
			next := bidding.ResubmitState
			if opts.NoReuse {
				next = bidding.RerunState
			}
			s, err := next(j.State)
			if err != nil {
				return err
			}
			msg := "resubmitted"
			if j.State == Completed {
				// Its receipts were the last run's: this one needs its own.
				j.Receipts, j.Late, j.Awards = nil, nil, nil
				msg = "submitted again with --no-reuse: a fresh run"
			}
			j.State, j.Error, j.ErrorCode, j.Created = s, "", "", now
			j.Bids, j.Declines = nil, nil
			// A failed run's receipts would count toward the new run's
			// (the machine needs count receipts): they are the old run's.
			j.Receipts, j.Late = nil, nil
			j.NoReuse = opts.NoReuse
			j.Exclude = peerStrings(opts.Exclude)
			j.log(Event{Type: "state", State: Pending, Message: msg})
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

// Cancel stops a job: its awards are cancelled on their executors. The
// job's machine takes the cancel (its loop's, or one made from the record
// when no loop runs).
func (m *Market) Cancel(ctx context.Context, id string) error {
	j, err := m.jobs.Get(id)
	if err != nil {
		return err
	}
	if j.State.Terminal() {
		return fmt.Errorf("job %s is already %s", id, j.State)
	}
	m.req.mu.Lock()
	loop := m.req.loops[id]
	m.req.mu.Unlock()
	if loop != nil && loop.driver != nil {
		if err, ok := loop.driver.cancel(ctx); ok {
			loop.stop()
			return err
		}
	}
	err = m.recordMachine(id, func(j *Job, now time.Time) ([]bidding.ReqAction, error) {
		mach := bidding.NewRequesterMachine(bidding.ReqConfig{State: j.State, Created: j.Created, Bids: noBids{}})
		return mach.Handle(bidding.ReqEvent{Kind: bidding.EvCancel, Now: now})
	})
	if loop != nil {
		loop.stop()
	}
	return err
}

// recordMachine runs a machine made from a job's stored record (when no
// loop follows the job) and applies its record actions.
func (m *Market) recordMachine(id string, step func(j *Job, now time.Time) ([]bidding.ReqAction, error)) error {
	var stepErr error
	err := m.jobs.Update(context.Background(), id, func(j *Job) error {
		now := time.Now()
		acts, err := step(j, now)
		if err != nil {
			stepErr = err
			return err
		}
		applyRecord(j, acts, now, nil)
		return nil
	})
	if stepErr != nil {
		return stepErr
	}
	return err
}

// noBids is the BidSource of a machine that runs no round.
type noBids struct{}

func (noBids) PickUpTo(time.Time, int) []bidding.Bid { return nil }
func (noBids) Next(time.Time) (bidding.Bid, bool)    { return bidding.Bid{}, false }
func (noBids) Exclude(peer.ID)                       {}
func (noBids) Restart(time.Time)                     {}

// fail ends a job that cannot run (spec unavailable, bad spec).
func (m *Market) fail(id cid.Cid, code bidding.Code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	err := m.recordMachine(id.String(), func(j *Job, now time.Time) ([]bidding.ReqAction, error) {
		mach := bidding.NewRequesterMachine(bidding.ReqConfig{State: j.State, Created: j.Created, Bids: noBids{}})
		return mach.Handle(bidding.ReqEvent{Kind: bidding.EvUnrunnable, Now: now, Code: code, Reason: msg})
	})
	if err != nil {
		m.log.Warn("job store update failed", "job", id, "err", err)
	}
}

// finish ends a job from its stored receipts (and an ops job's lost
// awards), as its machine does when its last slot ends.
func (m *Market) finish(id cid.Cid) {
	err := m.recordMachine(id.String(), func(j *Job, now time.Time) ([]bidding.ReqAction, error) {
		mach := bidding.NewRequesterMachine(bidding.ReqConfig{Count: len(j.Receipts), State: j.State, Created: now,
			QueueTimeout: time.Hour, Bids: noBids{}})
		r := resumeOf(j, j.Type == string(jobspec.Ops))
		r.Awards = nil
		return mach.Handle(bidding.ReqEvent{Kind: bidding.EvStart, Now: now, Resume: r})
	})
	if err != nil {
		m.log.Warn("job store update failed", "job", id, "err", err)
	}
}

// failNoExecutor ends a job whose queue timeout passed without an executor.
func (m *Market) failNoExecutor(id cid.Cid, spec *jobspec.Spec) {
	err := m.recordMachine(id.String(), func(j *Job, now time.Time) ([]bidding.ReqAction, error) {
		mach := bidding.NewRequesterMachine(bidding.ReqConfig{State: j.State, Created: j.Created, QueueTimeout: spec.QueueTimeout, Bids: noBids{}})
		return mach.Handle(bidding.ReqEvent{Kind: bidding.EvTimer, Timer: bidding.TimerQueue, Now: maxTime(now, j.Created.Add(spec.QueueTimeout))})
	})
	if err != nil {
		m.log.Warn("job store update failed", "job", id, "err", err)
	}
}

func (m *Market) startLoop(id cid.Cid) {
	ctx, cancel := context.WithCancel(m.ctx)
	m.req.mu.Lock()
	if _, running := m.req.loops[id.String()]; running {
		m.req.mu.Unlock()
		cancel()
		return
	}
	loop := &jobLoop{stop: cancel}
	m.req.loops[id.String()] = loop
	m.req.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.req.mu.Lock()
			delete(m.req.loops, id.String())
			m.req.mu.Unlock()
			cancel()
		}()
		m.runJob(ctx, id, loop)
	}()
}

// resumeJobs restarts the loops of jobs that were in flight when the node
// stopped.
func (m *Market) resumeJobs() {
	for _, j := range m.jobs.List() {
		if j.State.Terminal() || j.Type == PartitionType {
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

// update changes a job's record other than its state (bids, declines).
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

// runJob drives one job from announcement to its last receipt.
func (m *Market) runJob(ctx context.Context, id cid.Cid, loop *jobLoop) {
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
	job, err := m.jobs.Get(id.String())
	if err != nil {
		return
	}
	if _, ok := m.vault.get(id); spec.HasSecrets() && !ok && len(resumeOf(job, spec.Type == jobspec.Ops).Awards) == 0 {
		m.fail(id, bidding.CodeBadSpec, "%v", errSecretsLost)
		return
	}
	defer func() {
		if j, err := m.jobs.Get(id.String()); err == nil && j.State.Terminal() {
			m.vault.drop(id)
		}
	}()
	sel, err := bidding.NewSelector(id, spec, time.Now(), bidding.WithWindow(m.cfg.BidWindow), bidding.WithOrgResolver(m.orgsOf()),
		bidding.WithTotal(m.inputsTotal(ctx, spec)), bidding.WithReputation(m.rep.Score))
	if err != nil {
		m.fail(id, bidding.CodeBadSpec, "%v", err)
		return
	}
	for _, x := range job.Exclude {
		if p, err := peer.Decode(x); err == nil {
			sel.Exclude(p)
		}
	}
	d := newJobDriver(ctx, m, id, spec, b.RawData(), sel, job)
	m.req.mu.Lock()
	m.req.sinks[id] = d.sk
	loop.driver = d
	m.req.mu.Unlock()
	defer func() {
		m.req.mu.Lock()
		delete(m.req.sinks, id)
		m.req.mu.Unlock()
		d.sk.releaseAll()
	}()
	d.run(bidding.ReqEvent{Kind: bidding.EvStart, Now: time.Now(), Resume: resumeOf(job, spec.Type == jobspec.Ops)})
}

// resumeOf is what a job record holds for its machine's start: accepted
// awards to re-attach, its receipts, an ops job's lost awards.
func resumeOf(j *Job, ops bool) *bidding.ReqResume {
	r := &bidding.ReqResume{}
	for _, a := range j.Awards {
		switch a.State {
		case "accepted", "fetching", "running", "publishing":
			id, err := bidding.ParseAwardID(a.ID)
			if err != nil {
				continue
			}
			exec, err := peer.Decode(a.Executor)
			if err != nil {
				continue
			}
			accepted := a.Accepted
			if accepted.IsZero() { // a record written before Accepted existed
				accepted = a.Time
			}
			r.Awards = append(r.Awards, bidding.ResumedAward{Award: id, Executor: exec, Accepted: accepted})
		case "lost":
			if ops {
				exec, _ := peer.Decode(a.Executor)
				r.Lost = append(r.Lost, bidding.AwardLoss{Executor: exec, Code: a.ErrorCode, Error: a.Error})
			}
		}
	}
	for _, x := range j.Receipts {
		r.Receipts = append(r.Receipts, receiptOutcome(x))
	}
	return r
}

// receiptOutcome is what the machine needs of a stored receipt.
func receiptOutcome(x ReceiptInfo) bidding.ReceiptOutcome {
	id, _ := bidding.ParseAwardID(x.AwardID)
	exec, _ := peer.Decode(x.Executor)
	return bidding.ReceiptOutcome{Award: id, Executor: exec, CID: x.CID, ExitCode: x.ExitCode, Code: receiptCode(x), Error: x.Error,
		Outputs: x.Outputs, Stdout: x.Stdout, Stderr: x.Stderr}
}

// noExecutorReasons lists the declines and award errors of a job that
// found no executor.
func noExecutorReasons(j *Job) string {
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
	if len(list) == 0 {
		return "no node answered"
	}
	return strings.Join(list, "; ")
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
// which want every node, are never solicited; nor are jobs with a url input
// unless they may run anywhere: the nodes that imported the URL are the
// best bidders, and no lookup names them.
func (m *Market) solicitTargets(ctx context.Context, spec *jobspec.Spec) []peer.AddrInfo {
	if spec.Type == jobspec.Ops {
		return nil
	}
	if spec.Constraints.Locality != jobspec.Anywhere && slices.ContainsFunc(spec.Inputs, func(in jobspec.Input) bool { return in.URL != "" }) {
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
	if cids := spec.InputCIDs(); len(cids) > 0 {
		fctx, cancel := context.WithTimeout(ctx, bidding.SolicitLookup)
		for _, c := range cids {
			for _, p := range m.cfg.Content.FindProviders(fctx, c, 8) {
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
	fanout := len(out) + max(spec.Executors(), 1) + bidding.SolicitFanout - 1
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
	for _, c := range spec.InputCIDs() {
		for _, p := range m.cfg.Content.FindProviders(fctx, c, 8) {
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
	m.req.mu.Lock()
	sk := m.req.sinks[b.JobCID]
	m.req.mu.Unlock()
	if sk == nil {
		return false // the job is not collecting bids (late bid)
	}
	m.learn(b.Bidder, b.Certs)
	if why := m.cfg.Executors.refuse(m.rep.Get(b.Bidder), time.Now()); why != "" && b.Bidder != m.self {
		msg := fmt.Sprintf("bid from %s ignored: %s", short(b.Bidder.String()), why)
		m.update(b.JobCID, func(j *Job) {
			for _, e := range j.Events {
				if e.Message == msg {
					return // once per job, not once per round
				}
			}
			j.log(Event{Type: "bid", Peer: b.Bidder.String(), Message: msg})
		})
		sk.sel.Answered(b.Bidder)
		sk.poke()
		return false
	}
	if err := sk.sel.Offer(b, time.Now()); err != nil {
		m.log.Debug("bid refused", "job", b.JobCID, "bidder", b.Bidder, "err", err)
		m.ignoredBid(b, err)
		sk.sel.Answered(b.Bidder)
		sk.poke()
		return false
	}
	sk.hold(release)
	if sk.onBid != nil {
		sk.onBid()
	}
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
	m.req.mu.Lock()
	sk := m.req.sinks[d.JobCID]
	m.req.mu.Unlock()
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

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
