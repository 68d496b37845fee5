package market

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// jobDriver runs one job's bidding.RequesterMachine: its I/O goroutines
// (announce and bid window, award streams, Queries, Cancel chases) and
// timers turn what happens into events, fed to the machine one at a time
// by the driver's loop, which carries out the actions it returns. The
// machine decides; the driver only moves messages and writes the record
// as the machine says (docs/protocol.md §4, §7).
type jobDriver struct {
	m     *Market
	ctx   context.Context
	id    cid.Cid
	spec  *jobspec.Spec
	block []byte
	sel   *bidding.Selector
	sk    *sink
	mach  *bidding.RequesterMachine

	events chan driverEvent
	done   chan struct{} // closed when the loop ended
	postMu sync.RWMutex  // posters hold it shared; shutdown takes it to end posting
	ended  bool          // no more posts (guarded by postMu)

	mu      sync.Mutex
	streams map[bidding.AwardID]*awardStream // the stream each award is followed on
	timers  map[timerKey]Timer
}

type timerKey struct {
	kind  bidding.TimerKind
	award bidding.AwardID
}

// driverEvent is an event for the machine, from the stream it was read on
// (nil: not from a stream), with the receipt's record when it carries one.
type driverEvent struct {
	ev    bidding.ReqEvent
	from  *awardStream
	info  *ReceiptInfo
	set   []*ReceiptInfo // EvMemo: the records of a hit's receipts
	reply chan error
}

// awardStream is one stream an award is followed on (the award stream, or
// a Query's).
type awardStream struct {
	award bidding.AwardID
	exec  peer.ID

	mu     sync.Mutex
	conn   io.ReadWriteCloser
	closed bool
}

// attach sets the stream's connection; false (and the connection closed)
// when the machine stopped the award meanwhile.
func (s *awardStream) attach(c io.ReadWriteCloser) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return false
	}
	s.conn = c
	return true
}

func (s *awardStream) close() {
	s.mu.Lock()
	c := s.conn
	s.closed = true
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (s *awardStream) get() io.ReadWriteCloser {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

func newJobDriver(ctx context.Context, m *Market, id cid.Cid, spec *jobspec.Spec, block []byte, sel *bidding.Selector, job *Job) *jobDriver {
	d := &jobDriver{m: m, ctx: ctx, id: id, spec: spec, block: block, sel: sel,
		events: make(chan driverEvent, 64), done: make(chan struct{}),
		streams: map[bidding.AwardID]*awardStream{}, timers: map[timerKey]Timer{}}
	d.sk = &sink{sel: sel, notify: make(chan struct{}, 1), onBid: func() {
		select { // a dropped wake-up is covered by the backoff timer
		case d.events <- driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvBid, Now: d.now()}}:
		default:
		}
	}}
	d.mach = bidding.NewRequesterMachine(bidding.ReqConfig{Job: id, Count: spec.Executors(), Ops: spec.Type == jobspec.Ops, Verify: spec.Verify,
		Timeout: spec.Timeout, QueueTimeout: spec.QueueTimeout, PublishGrace: m.cfg.PublishGrace,
		Created: job.Created, State: job.State, Attempts: job.Attempts, Bids: sel,
		Reuse: m.cfg.Memo != nil && !job.NoReuse && reusableResult(spec)})
	return d
}

// now is the driver's clock (Config.Clock).
func (d *jobDriver) now() time.Time { return d.m.cfg.Clock.Now() }

// run feeds the machine until the job ends or the loop's context does.
func (d *jobDriver) run(start bidding.ReqEvent) {
	defer d.shutdown()
	d.step(driverEvent{ev: start})
	for !d.mach.Done() {
		select {
		case <-d.ctx.Done():
			return
		case de := <-d.events:
			if de.from != nil && !d.current(de.from) {
				continue // a stream the machine stopped following
			}
			err := d.step(de)
			if de.ev.Kind == bidding.EvWindowClosed {
				// The machine picked: the other bids are out of contention.
				d.sk.releaseAll()
			}
			if de.reply != nil {
				de.reply <- err
			}
		}
	}
}

func (d *jobDriver) current(s *awardStream) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streams[s.award] == s
}

func (d *jobDriver) shutdown() {
	close(d.done) // wakes posters waiting for room
	d.postMu.Lock()
	d.ended = true
	d.postMu.Unlock()
	// Events posted but not taken: only a late receipt still matters.
	for {
		select {
		case de := <-d.events:
			if de.ev.Kind == bidding.EvLateReceipt {
				d.recordLate(de.ev.Receipt, de.info)
			}
			continue
		default:
		}
		break
	}
	d.mu.Lock()
	for _, t := range d.timers {
		t.Stop()
	}
	streams := d.streams
	d.streams = map[bidding.AwardID]*awardStream{}
	d.mu.Unlock()
	for _, s := range streams {
		s.close()
	}
}

// post hands an event to the loop; false when the loop ended.
func (d *jobDriver) post(de driverEvent) bool {
	if de.ev.Now.IsZero() {
		de.ev.Now = d.now()
	}
	d.postMu.RLock()
	defer d.postMu.RUnlock()
	if d.ended {
		return false
	}
	select {
	case d.events <- de:
		return true
	case <-d.done:
		return false
	case <-d.ctx.Done():
		return false
	}
}

// cancel has the loop's machine take the user's cancel; ok is false when
// the loop ended first.
func (d *jobDriver) cancel(ctx context.Context) (err error, ok bool) {
	reply := make(chan error, 1)
	if !d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvCancel}, reply: reply}) {
		return nil, false
	}
	select {
	case err := <-reply:
		return err, true
	case <-d.done:
		select {
		case err := <-reply:
			return err, true
		default:
			return nil, false
		}
	case <-ctx.Done():
		return ctx.Err(), true
	}
}

// step feeds one event to the machine and carries out its actions: first
// the record's changes, in one store update, then the messages.
func (d *jobDriver) step(de driverEvent) error {
	acts, err := d.mach.Handle(de.ev)
	if err != nil {
		d.m.log.Error("requester machine refused an event", "job", d.id, "event", de.ev.Kind, "err", err)
	}
	if len(acts) == 0 {
		return err
	}
	now := de.ev.Now
	infos := map[bidding.AwardID]*ReceiptInfo{}
	if de.info != nil && de.ev.Receipt != nil {
		infos[de.ev.Receipt.Award] = de.info
	}
	if de.ev.Memo != nil {
		for i, info := range de.set {
			if i == 0 {
				infos[de.ev.Memo.Receipt.Award] = info
			}
			if i < len(de.ev.Memo.Set) {
				infos[de.ev.Memo.Set[i].Award] = info
			}
		}
	}
	var sync, late bool
	record := false
	for _, a := range acts {
		switch a.Kind {
		case bidding.ActRecordAward, bidding.ActRecordEvent, bidding.ActStoreReceipt, bidding.ActSetState, bidding.ActFinish, bidding.ActAnnounce, bidding.ActVerdict:
			record = true
		case bidding.ActSync:
			sync = true
		}
		if a.Kind == bidding.ActStoreReceipt && a.Late {
			late = true
		}
	}
	if record {
		uerr := d.m.jobs.Update(context.Background(), d.id.String(), func(j *Job) error {
			applyRecord(j, acts, now, infos)
			return nil
		})
		if uerr != nil {
			d.m.log.Warn("job store update failed", "job", d.id, "err", uerr)
			if err == nil {
				err = uerr
			}
		}
	}
	if sync {
		// An accepted award survives a kill -9 of this node, so that a
		// restart re-attaches to its run instead of awarding it again.
		if serr := d.m.jobs.Sync(d.ctx, d.id.String()); serr != nil {
			d.m.log.Warn("job store sync failed", "job", d.id, "err", serr)
		}
	}
	if late && d.m.req.lateHook != nil {
		d.m.req.lateHook(d.id.String())
	}
	for _, a := range acts {
		d.noteReputation(a, now)
		d.act(a, now)
	}
	return err
}

// applyRecord writes the record actions of the machine on a job record.
func applyRecord(j *Job, acts []bidding.ReqAction, now time.Time, infos map[bidding.AwardID]*ReceiptInfo) {
	for _, a := range acts {
		switch a.Kind {
		case bidding.ActAnnounce:
			j.Attempts = a.Attempt
		case bidding.ActRecordAward:
			idStr := a.Award.String()
			if a.AwardState == "offered" {
				j.Awards = append(j.Awards, AwardInfo{ID: idStr, Executor: a.Executor.String(), State: "offered", Time: now, Phases: []PhaseInfo{{Phase: "offered", Start: now}}})
				continue
			}
			aw := j.award(idStr)
			if aw == nil {
				continue
			}
			aw.State = a.AwardState
			aw.notePhase(a.AwardState, a.Done, a.Total, now)
			if !a.Accepted.IsZero() {
				aw.Accepted = a.Accepted
			}
			if a.Code != "" || a.Message != "" {
				aw.ErrorCode, aw.Error = a.Code, a.Message
			}
		case bidding.ActRecordEvent:
			j.log(Event{Time: now, Type: a.EventType, Peer: peerStr(a.Executor), Message: a.Message})
		case bidding.ActSetState:
			j.State = a.State
			if a.Message != "" {
				t := a.EventType
				if t == "" {
					t = "state"
				}
				j.log(Event{Time: now, Type: t, State: a.State, Peer: peerStr(a.Executor), Message: a.Message})
			}
		case bidding.ActStoreReceipt:
			storeReceipt(j, a, infos[a.Award], now)
		case bidding.ActVerdict:
			j.Verification = verificationOf(a.Verdict)
		case bidding.ActFinish:
			j.State = a.State
			j.ErrorCode, j.Error = a.Code, a.Message
			msg := a.Message
			switch {
			case a.ListReasons:
				j.Error = a.Message + ": " + noExecutorReasons(j)
				msg = j.Error
			case a.State == Failed:
				msg = "failed: " + a.Message
			}
			if a.State == Completed {
				j.ErrorCode, j.Error = "", ""
			}
			j.log(Event{Time: now, Type: "state", State: a.State, Message: msg})
		}
	}
}

// storeReceipt stores a receipt once per award: as the job's, or late.
func storeReceipt(j *Job, a bidding.ReqAction, info *ReceiptInfo, now time.Time) {
	idStr := a.Award.String()
	for _, x := range j.Receipts {
		if x.AwardID == idStr {
			return
		}
	}
	for _, x := range j.Late {
		if x.AwardID == idStr {
			return
		}
	}
	var r ReceiptInfo
	if info != nil {
		r = *info
	} else if rc := a.Receipt; rc != nil {
		r = ReceiptInfo{CID: rc.CID, AwardID: idStr, Executor: rc.Executor.String(), ExitCode: rc.ExitCode, ErrorCode: rc.Code, Error: rc.Error}
	}
	r.Reused = r.Reused || a.Reused
	if a.Settles {
		j.Receipts = append(j.Receipts, r)
		if aw := j.award(idStr); aw != nil {
			aw.State = "completed"
			aw.notePhase("completed", 0, 0, now)
		}
	} else {
		r.Late = true
		j.Late = append(j.Late, r)
	}
	j.log(Event{Time: now, Type: "receipt", Peer: r.Executor, Message: a.Message})
}

func peerStr(p peer.ID) string {
	if p == "" {
		return ""
	}
	return p.String()
}

// act carries out one action that is not a record change.
func (d *jobDriver) act(a bidding.ReqAction, now time.Time) {
	m := d.m
	switch a.Kind {
	case bidding.ActAnnounce:
		m.wg.Go(func() {
			d.announce(a.Attempt, a.Solicit)
		})
	case bidding.ActSendAward:
		s := d.newStream(a.Award, a.Executor)
		m.wg.Go(func() {
			d.sendAward(s, a.Seq)
		})
	case bidding.ActSendQuery:
		s := d.newStream(a.Award, a.Executor)
		m.wg.Go(func() {
			d.query(s, a.At)
		})
	case bidding.ActSendCancel:
		// The Cancel goes on the award's open stream first (best effort,
		// bounded), then over ProtocolReceipt: chased until answered, or
		// once.
		s := d.takeStream(a.Award)
		m.wg.Go(func() {
			if s != nil {
				if c := s.get(); c != nil {
					writeDeadline(c, time.Second)
					_ = m.tr.send(c, d.cancelMsg(a.Award, a.Reason))
				}
				s.close()
			}
			if a.Chase {
				d.chase(a.Award, a.Executor, a.Reason)
			} else {
				d.cancelRemote(a.Award, a.Executor)
			}
		})
	case bidding.ActStopAward:
		if s := d.takeStream(a.Award); s != nil {
			s.close()
		}
	case bidding.ActLookup:
		m.wg.Go(func() {
			hit, infos, why := d.lookupMemo()
			d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvMemo, Memo: hit, Reason: why}, set: infos})
		})
	case bidding.ActSetTimer:
		k := timerKey{a.Timer, a.Award}
		ev := bidding.ReqEvent{Kind: bidding.EvTimer, Timer: a.Timer, Award: a.Award}
		d.mu.Lock()
		if t := d.timers[k]; t != nil {
			t.Stop()
		}
		fire := func() {
			ev := ev
			ev.Now = d.now()
			d.post(driverEvent{ev: ev})
		}
		var t Timer
		if a.Timer == bidding.TimerRequery && a.Executor != m.self {
			// A re-attach retry: a connection to the executor (this node
			// reconnected to the network) asks at once; the machine takes
			// the second firing as stale.
			stopWait := m.tr.awaitConnection(a.Executor, fire)
			t = earlyTimer{d.m.cfg.Clock.AfterFunc(max(a.At.Sub(now), 0), func() { stopWait(); fire() }), stopWait}
		} else {
			t = d.m.cfg.Clock.AfterFunc(max(a.At.Sub(now), 0), fire)
		}
		d.timers[k] = t
		d.mu.Unlock()
	}
}

// earlyTimer is a timer that an awaited event may also fire.
type earlyTimer struct {
	Timer
	stopWait func()
}

func (t earlyTimer) Stop() bool {
	t.stopWait()
	return t.Timer.Stop()
}

// newStream makes s the stream award is followed on (its connection
// comes once dialled).
func (d *jobDriver) newStream(award bidding.AwardID, exec peer.ID) *awardStream {
	s := &awardStream{award: award, exec: exec}
	d.mu.Lock()
	old := d.streams[award]
	d.streams[award] = s
	d.mu.Unlock()
	if old != nil {
		old.close()
	}
	return s
}

func (d *jobDriver) takeStream(award bidding.AwardID) *awardStream {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.streams[award]
	delete(d.streams, award)
	return s
}

// announce runs one round: the announce, then the wait for its bid window.
func (d *jobDriver) announce(attempt int, solicit bool) {
	m := d.m
	round, targeted, err := m.announce(d.ctx, d.id, d.spec, attempt, d.sk, solicit)
	if err != nil {
		m.log.Warn("announce failed", "job", d.id, "err", err)
		round = fmt.Sprintf("announcement failed: %v", err)
	}
	m.update(d.id, func(j *Job) {
		j.log(Event{Type: "announce", State: Bidding, Message: fmt.Sprintf("attempt %d: %s", attempt, round)})
	})
	if !m.awaitWindow(d.ctx, d.sk) {
		return
	}
	d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvWindowClosed, Targeted: targeted}})
}

// sendAward offers the job to a bidder and reads its answers.
func (d *jobDriver) sendAward(s *awardStream, seq int) {
	m := d.m
	a := bidding.NewAward(d.id, d.block, m.self, s.exec, m.tr.providerHints(), seq, d.now())
	a.AwardID = s.award
	if err := m.sealSecrets(d.spec, a); err != nil {
		d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvAwardSendFailed, Award: s.award, Reason: "secrets: " + err.Error()}, from: s})
		return
	}
	conn, err := m.tr.dial(d.ctx, s.exec, bidding.ProtocolAward)
	if err != nil {
		d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvAwardSendFailed, Award: s.award, Reason: err.Error()}, from: s})
		return
	}
	if !s.attach(conn) {
		return
	}
	deadline(conn, bidding.StreamTimeout)
	if err := m.tr.send(conn, a); err != nil {
		d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvAwardSendFailed, Award: s.award, Dialed: true, Reason: err.Error()}, from: s})
		return
	}
	noReadDeadline(conn) // the machine's timers bound the wait
	if !d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvAwardSent, Award: s.award}, from: s}) {
		return
	}
	d.read(s, conn, true)
}

// query re-attaches to an award over ProtocolReceipt, the dial bounded by
// by, and reads the answers.
func (d *jobDriver) query(s *awardStream, by time.Time) {
	m := d.m
	qctx, cancel := context.WithDeadline(d.ctx, by)
	conn, err := m.tr.dial(qctx, s.exec, bidding.ProtocolReceipt)
	cancel()
	if err == nil {
		if !s.attach(conn) {
			return
		}
		q := &bidding.Query{Version: bidding.WireVersion, AwardID: s.award, JobCID: d.id, Requester: m.self, IssuedAt: d.now()}
		deadline(conn, bidding.StreamTimeout)
		err = m.tr.send(conn, q)
	}
	if err != nil {
		d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvQueryFailed, Award: s.award, Reason: err.Error()}, from: s})
		return
	}
	noReadDeadline(conn)
	d.read(s, conn, false)
}

// read turns the messages of an award's stream into events, until it
// breaks or the machine closes it.
func (d *jobDriver) read(s *awardStream, conn io.ReadWriteCloser, awardStream bool) {
	m := d.m
	first := awardStream
	for {
		msg, raw, err := recv(conn, bidding.MaxMessageSize, bidding.KindAccept, bidding.KindDecline, bidding.KindStatus, bidding.KindReceipt)
		if err != nil {
			left := m.tr.connected(s.exec)
			d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvStreamBroken, Award: s.award, ConnectionLeft: left, Reason: err.Error()}, from: s})
			return
		}
		ev := bidding.ReqEvent{Award: s.award}
		var info *ReceiptInfo
		if msg.Signer() != s.exec {
			ev.Kind, ev.Reason = bidding.EvBadMessage, fmt.Sprintf("message signed by %s, not the executor", msg.Signer())
		} else {
			switch x := msg.(type) {
			case *bidding.Accept:
				ev.Kind = bidding.EvAccept
				if x.AwardID != s.award {
					ev.Kind, ev.Reason = bidding.EvBadMessage, "accept for another award"
				}
			case *bidding.Decline:
				if first {
					m.deliverDecline(x)
				}
				ev.Kind, ev.Code, ev.Reason = bidding.EvDecline, x.Code, x.Reason
			case *bidding.Status:
				if x.AwardID != s.award {
					continue
				}
				ev.Kind, ev.Phase, ev.Seq, ev.Done, ev.Total = bidding.EvStatus, x.Phase, x.Seq, x.Done, x.Total
			case *bidding.Receipt:
				switch {
				case x.AwardID != s.award || x.JobCID != d.id || x.Requester != m.self:
					ev.Kind, ev.Reason = bidding.EvBadMessage, "receipt for another award"
				case !m.eligible(d.spec, x.Executor):
					ev.Kind, ev.Reason = bidding.EvBadMessage, "receipt from an executor outside constraints.executors"
				default:
					ev.Kind = bidding.EvReceipt
					ev.Receipt, info = d.keepReceipt(x, raw)
				}
			}
		}
		first = false
		if !d.post(driverEvent{ev: ev, from: s, info: info}) || ev.Kind == bidding.EvReceipt || ev.Kind == bidding.EvBadMessage {
			return
		}
	}
}

// keepReceipt stores a verified receipt's block and returns what the
// machine and the record need of it.
func (d *jobDriver) keepReceipt(rc *bidding.Receipt, raw []byte) (*bidding.ReceiptOutcome, *ReceiptInfo) {
	rcid := bidding.ReceiptCID(raw)
	// This node's own executor stored and synced the block before it
	// sent it (finishAward): a second write would cost a second sync.
	if b, err := blocks.NewBlockWithCid(raw, rcid); err == nil && rc.Executor != d.m.self {
		_ = d.m.cfg.Content.PutBlock(context.Background(), b)
	}
	info := receiptInfo(rc, rcid.String())
	addRemoteInfo(&info, rc, d.spec)
	out := receiptOutcome(info)
	out.Award, out.Executor = rc.AwardID, rc.Executor
	return &out, &info
}

func (d *jobDriver) cancelMsg(award bidding.AwardID, reason string) *bidding.Cancel {
	return &bidding.Cancel{Version: bidding.WireVersion, AwardID: award, JobCID: d.id, Requester: d.m.self,
		Reason: bidding.TruncateText(reason, bidding.MaxReasonLen), IssuedAt: d.now()}
}

// cancelRemote tells an executor to stop an award (best effort, once).
func (d *jobDriver) cancelRemote(award bidding.AwardID, exec peer.ID) {
	m := d.m
	ctx, cancel := context.WithTimeout(m.ctx, bidding.StreamTimeout)
	defer cancel()
	conn, err := m.tr.dial(ctx, exec, bidding.ProtocolReceipt)
	if err != nil {
		return
	}
	defer conn.Close()
	deadline(conn, bidding.StreamTimeout)
	_ = m.tr.send(conn, d.cancelMsg(award, "cancelled by the requester"))
}

// chase delivers the Cancel of a superseded award over ProtocolReceipt,
// retrying with backoff for CancelChase, and reads the executor's answer
// until its receipt (a late receipt), a Decline or the end of the stream.
func (d *jobDriver) chase(award bidding.AwardID, exec peer.ID, reason string) {
	m := d.m
	ctx, cancel := context.WithTimeout(m.ctx, bidding.CancelChase)
	defer cancel()
	wait := bidding.AnnounceBackoffMin
	for {
		if d.cancelOnce(ctx, award, exec, reason) || ctx.Err() != nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, bidding.AnnounceBackoffMax)
	}
}

// cancelOnce writes one Cancel on ProtocolReceipt and reads the answer;
// it reports whether the executor answered (its receipt, a Decline, or a
// clean end of the stream).
func (d *jobDriver) cancelOnce(ctx context.Context, award bidding.AwardID, exec peer.ID, reason string) bool {
	m := d.m
	conn, err := m.tr.dial(ctx, exec, bidding.ProtocolReceipt)
	if err != nil {
		return false
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	deadline(conn, bidding.StreamTimeout)
	if err := m.tr.send(conn, d.cancelMsg(award, reason)); err != nil {
		return false
	}
	for {
		// The run stops on the Cancel and its receipt follows; statuses
		// may come first (heartbeats keep the stream alive until then).
		deadline(conn, bidding.StreamTimeout)
		msg, raw, err := recv(conn, bidding.MaxMessageSize, bidding.KindStatus, bidding.KindReceipt, bidding.KindDecline)
		if err != nil {
			return errors.Is(err, io.EOF) && !isReset(err)
		}
		if msg.Signer() != exec {
			return false
		}
		switch x := msg.(type) {
		case *bidding.Decline:
			return true
		case *bidding.Receipt:
			d.lateReceipt(x, raw, exec, award)
			return true
		}
	}
}

// lateReceipt verifies a receipt of a superseded award as any receipt
// (its award, job, requester and executor, constraints.executors) and
// hands it to the machine; when the job's loop ended, it is recorded as a
// late receipt (it settles nothing).
func (d *jobDriver) lateReceipt(rc *bidding.Receipt, raw []byte, exec peer.ID, award bidding.AwardID) {
	m := d.m
	if rc.AwardID != award || rc.JobCID != d.id || rc.Requester != m.self || rc.Executor != exec || !m.eligible(d.spec, rc.Executor) {
		m.log.Debug("late receipt refused", "job", d.id, "award", award, "executor", exec)
		return
	}
	out, info := d.keepReceipt(rc, raw)
	if !d.post(driverEvent{ev: bidding.ReqEvent{Kind: bidding.EvLateReceipt, Receipt: out}, info: info}) {
		d.recordLate(out, info)
	}
}

// recordLate records a late receipt when the job's loop ended.
func (d *jobDriver) recordLate(out *bidding.ReceiptOutcome, info *ReceiptInfo) {
	m := d.m
	err := m.recordMachine(d.id.String(), func(j *Job, now time.Time) ([]bidding.ReqAction, error) {
		// No loop follows the job: a machine of the record stores it as a
		// late receipt of an award it does not follow (it settles nothing).
		mach := bidding.NewRequesterMachine(bidding.ReqConfig{State: j.State, Created: j.Created, Bids: noBids{}})
		acts, err := mach.Handle(bidding.ReqEvent{Kind: bidding.EvLateReceipt, Now: now, Receipt: out})
		for i := range acts {
			if acts[i].Kind == bidding.ActStoreReceipt {
				storeReceipt(j, acts[i], info, now)
			}
		}
		return nil, err
	})
	if err != nil {
		m.log.Warn("job store update failed", "job", d.id, "err", err)
	}
	if m.req.lateHook != nil {
		m.req.lateHook(d.id.String())
	}
}
