package bidding

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// The requester's decisions for one job, as a pure state machine
// (docs/protocol.md §4 and §7): events in, actions out. It does no I/O,
// starts no goroutine and reads no clock: every event carries its time.
// A driver turns what happens on the network and its timers into events
// and carries out the actions (bidding/market's jobDriver); the machine is
// the only writer of the job's state, through JobState.MoveTo.

// ReqEventKind is what happened to a job on the requester.
type ReqEventKind uint8

// Requester events.
const (
	// EvStart starts the machine: a new job, or one resumed after a
	// restart (ReqEvent.Resume).
	EvStart ReqEventKind = iota + 1
	// EvWindowClosed: the bid window of the round announced last closed
	// (Targeted: it asked chosen peers only). The machine picks from its
	// BidSource.
	EvWindowClosed
	// EvBid: a bid arrived (outside a window it may end a backoff).
	EvBid
	// EvAwardSent: the award was written on its stream.
	EvAwardSent
	// EvAwardSendFailed: the award could not be sent (Dialed: the stream
	// was open, so it may have been written).
	EvAwardSendFailed
	// EvAccept: the executor accepted the award.
	EvAccept
	// EvDecline: the executor declined the award (Code, Reason); on a
	// Query stream, unknown_award is such a decline.
	EvDecline
	// EvStatus: a verified Status of the award (Phase, Seq).
	EvStatus
	// EvReceipt: a verified receipt of the award (Receipt).
	EvReceipt
	// EvBadMessage: a message about the award that fails its checks
	// (signed by another peer, for another award, from an executor
	// outside constraints.executors); Reason says which.
	EvBadMessage
	// EvStreamBroken: the stream the award is followed on broke
	// (ConnectionLeft: another connection to the executor remains).
	EvStreamBroken
	// EvQueryFailed: a Query could not be sent (no answer at all).
	EvQueryFailed
	// EvTimer: a timer the machine set fired (Timer, Award).
	EvTimer
	// EvCancel: the user cancelled the job.
	EvCancel
	// EvLateReceipt: a verified receipt of a superseded award, the
	// answer to its Cancel (Receipt).
	EvLateReceipt
	// EvUnrunnable: the job cannot run at all (Code spec_unavailable or
	// bad_spec, Reason).
	EvUnrunnable
	// EvMemo: the answer to ActLookup (memo.go, docs/protocol.md §9):
	// Memo is a receipt of the job that policy trusts, or nil (Reason
	// says why none is reused).
	EvMemo
)

// TimerKind names a timer the machine sets.
type TimerKind uint8

// Timers of the requester.
const (
	TimerAccept    TimerKind = iota + 1 // an award's Accept is due
	TimerHeartbeat                      // an accepted award's executor is presumed dead
	TimerRun                            // an accepted award's run deadline
	TimerReattach                       // a Query's first answer is due
	TimerBackoff                        // the next announce after an empty window
	TimerQueue                          // the job's queue timeout
	// TimerRequery: ask again after a re-attach Query that could not be
	// sent or broke unanswered. The driver may fire it early, when a
	// connection to the award's executor opens.
	TimerRequery
)

func (k TimerKind) String() string {
	switch k {
	case TimerAccept:
		return "accept deadline"
	case TimerHeartbeat:
		return "heartbeat deadline"
	case TimerRun:
		return "run deadline"
	case TimerReattach:
		return "reattach deadline"
	case TimerRequery:
		return "re-attach retry"
	case TimerBackoff:
		return "backoff"
	case TimerQueue:
		return "queue timeout"
	}
	return fmt.Sprintf("timer(%d)", k)
}

// ReqEvent is one event of a job on the requester.
type ReqEvent struct {
	Kind  ReqEventKind
	Now   time.Time
	Award AwardID // the award the event is about (award events, timers)

	Targeted       bool            // EvWindowClosed
	Dialed         bool            // EvAwardSendFailed
	ConnectionLeft bool            // EvStreamBroken
	Code           Code            // EvDecline
	Reason         string          // EvDecline, EvBadMessage, EvStreamBroken, EvQueryFailed, EvAwardSendFailed
	Phase          Phase           // EvStatus
	Seq            int64           // EvStatus
	Done, Total    int64           // EvStatus: the phase's progress (fetching: bytes)
	Receipt        *ReceiptOutcome // EvReceipt, EvLateReceipt
	Timer          TimerKind       // EvTimer
	Resume         *ReqResume      // EvStart after a restart
	Memo           *MemoHit        // EvMemo
}

// MemoHit is a receipt of the job that the network already held and that
// the requester's policy trusts (docs/protocol.md §9).
type MemoHit struct {
	Receipt ReceiptOutcome // its award is the earlier run's
	// Set is a verified set's receipts (Receipt is then its first), for
	// a verified job only (reqverify.go).
	Set      []ReceiptOutcome
	Finished time.Time // when that run finished
	Orgs     []string  // the trusted orgs of its executor ("" when it is this node)
}

// ReceiptOutcome is what the machine needs of a verified receipt.
type ReceiptOutcome struct {
	Award    AwardID
	Executor peer.ID
	CID      string // the receipt block's CID
	ExitCode int
	Code     Code   // error_code, "" when the run ended on its own
	Error    string // "<code>: <error>", as the job record shows it
	// Outputs, Stdout and Stderr are the receipt's result CIDs ("" when
	// unset): with ExitCode, what replicas of a verified job agree on.
	Outputs, Stdout, Stderr string
}

// ResumedAward is an award accepted before a restart.
type ResumedAward struct {
	Award    AwardID
	Executor peer.ID
	Accepted time.Time
}

// ReqResume is what the job record holds when the machine starts again.
type ReqResume struct {
	Awards   []ResumedAward   // accepted before the restart, to re-attach by Query
	Receipts []ReceiptOutcome // the job's receipts so far
	// Lost are the earlier losses of an ops job's awards (each fails it).
	Lost []AwardLoss
}

// AwardLoss is an ops award that ended without a receipt.
type AwardLoss struct {
	Executor peer.ID
	Code     Code
	Error    string
}

// ReqActionKind is what the machine asks its driver to do.
type ReqActionKind uint8

// Requester actions.
const (
	// ActAnnounce: ask for bids (Attempt; Solicit: the first round, asked
	// directly of chosen peers), then report EvWindowClosed.
	ActAnnounce ReqActionKind = iota + 1
	// ActSendAward: send award Award (number Seq) to Executor.
	ActSendAward
	// ActSendCancel: send a Cancel of Award to Executor (Reason), on its
	// open stream if there is one; Chase: also over ProtocolReceipt until
	// the executor answers, reading a late receipt (EvLateReceipt).
	ActSendCancel
	// ActSendQuery: ask Executor for Award over ProtocolReceipt, the dial
	// bounded by At; its answers are award events.
	ActSendQuery
	// ActStopAward: close Award's stream; the machine no longer reads it.
	ActStopAward
	// ActSetTimer: report EvTimer{Timer, Award} at At (replacing the
	// timer of the same kind and award).
	ActSetTimer
	// ActRecordAward: write Award's record (AwardState, Code, Message;
	// Accepted when set; a new record when AwardState is "offered").
	ActRecordAward
	// ActRecordEvent: append Message (EventType, Executor) to the job log.
	ActRecordEvent
	// ActStoreReceipt: store Receipt on the job, once per award: as the
	// job's (Settles) or as a late receipt, with Message for the log.
	ActStoreReceipt
	// ActSetState: the job's state is now State (Message, EventType and
	// Executor for its log entry; no entry when Message is empty).
	ActSetState
	// ActSync: make the job record durable now (an award was accepted).
	ActSync
	// ActFinish: the job ended in State with Code and Message;
	// ListReasons: append the declines and award errors of the record.
	ActFinish
	// ActLookup: look up a receipt of the job that policy trusts (bounded
	// by MemoLookupTimeout), then report EvMemo.
	ActLookup
	// ActVerdict: a verified job's receipts were judged (Verdict): record
	// the verification, count agreements and disagreements for each
	// executor, keep only the agreed outputs (reqverify.go).
	ActVerdict
)

// ReqAction is one action of the machine.
type ReqAction struct {
	Kind        ReqActionKind
	Award       AwardID
	Executor    peer.ID
	Attempt     int
	Solicit     bool
	Seq         int
	Reason      string
	Chase       bool
	Timer       TimerKind
	At          time.Time
	AwardState  string
	Done, Total int64 // ActRecordAward: the progress of AwardState
	Accepted    time.Time
	Code        Code
	Message     string
	EventType   string
	Receipt     *ReceiptOutcome
	Settles     bool
	Late        bool
	Reused      bool // ActStoreReceipt: the receipt of an earlier run (EvMemo)
	State       JobState
	ListReasons bool
	Verdict     *Verdict // ActVerdict
}

// BidSource is where the machine takes bids from (a *Selector).
type BidSource interface {
	// PickUpTo returns at most n bids to award now (n <= 0: as many as
	// the job runs at once), marking only those awarded.
	PickUpTo(now time.Time, n int) []Bid
	Next(now time.Time) (Bid, bool)
	Exclude(p peer.ID)
	Restart(now time.Time)
}

// ReqConfig is what a RequesterMachine needs.
type ReqConfig struct {
	Job          cid.Cid
	Count        int  // spec.Count
	Ops          bool // spec.Type == ops: each award its own slot, no failover
	Timeout      time.Duration
	QueueTimeout time.Duration
	PublishGrace time.Duration
	Created      time.Time // the queue timeout counts from it
	State        JobState  // the job record's state
	Attempts     int       // rounds announced before
	Bids         BidSource
	// NewAwardID makes award IDs (default NewAwardID).
	NewAwardID func() AwardID
	// Reuse: before its first round the job looks up a receipt it may
	// reuse (ActLookup); the driver sets it for a batch job of count 1
	// that is deterministic and whose reuse is not never (memo.go).
	Reuse bool
	// Verify: the job is verified (spec.verify, reqverify.go); Count is
	// then its verify.replicas.
	Verify *jobspec.Verify
}

type reqPhase uint8

const (
	phOffered     reqPhase = iota + 1 // award sent or being sent, Accept due
	phUnconfirmed                     // no Accept: a Query asks whether it runs
	phAccepted                        // followed by statuses to its receipt
	phEnded                           // no longer followed
)

type reqAward struct {
	id          AwardID
	exec        peer.ID
	slot        *reqSlot
	phase       reqPhase
	acceptBy    time.Time
	accepted    time.Time
	runDeadline time.Time
	live        *Liveness
	requeried   bool      // followed over a Query stream: no second Query
	answerBy    time.Time // a Query's first answer is due (zero once answered)
	// retry: a re-attach Query that fails before any answer is asked again
	// until answerBy (a restart, or a broken stream with a connection
	// left); not after a broken stream with no connection left, where a
	// failed redial is the fast failover.
	retry   bool
	retries int       // failed Queries in a row (the backoff)
	retryAt time.Time // a retry is pending (zero: none)
	lastErr string    // why the last Query failed
	receipt bool      // a receipt of it was stored
}

type reqSlot struct {
	cur     *reqAward
	settled bool
	live    bool
}

// RequesterMachine decides for one job on the requester. It is not safe
// for concurrent use: its driver feeds it one event at a time.
type RequesterMachine struct {
	cfg     ReqConfig
	state   JobState
	need    int // batch: receipts still needed
	attempt int
	backoff int  // empty windows in a row
	solicit bool // the next round is the solicited one
	waiting bool // waiting for the backoff timer (or a bid)
	inRound bool // an announced window is open
	resumed bool // the current slots re-attach after a restart
	lookup  bool // an ActLookup is out, its EvMemo due
	nawards int
	awards  map[AwardID]*reqAward
	slots   []*reqSlot

	receipts []ReceiptOutcome
	lost     []AwardLoss

	out []ReqAction
	err error
}

// NewRequesterMachine returns a machine for a job in state cfg.State; it
// does nothing before EvStart.
func NewRequesterMachine(cfg ReqConfig) *RequesterMachine {
	if cfg.NewAwardID == nil {
		cfg.NewAwardID = NewAwardID
	}
	if cfg.State == "" {
		cfg.State = JobPending
	}
	return &RequesterMachine{cfg: cfg, state: cfg.State, attempt: cfg.Attempts, solicit: true, awards: map[AwardID]*reqAward{}}
}

// State is the job's state as the machine last wrote it.
func (m *RequesterMachine) State() JobState { return m.state }

// Done reports whether the job ended.
func (m *RequesterMachine) Done() bool { return m.state.Terminal() }

// Need is how many receipts a batch job still needs.
func (m *RequesterMachine) Need() int { return m.need }

// ErrMachine: an event the machine cannot take in its state.
var ErrMachine = errors.New("bidding: requester machine")

// Handle takes one event and returns the actions it leads to, in order.
// An error is a transition JobState refuses, or an event that cannot
// happen in the job's state (a cancel of an ended job); the actions
// before it are returned too.
func (m *RequesterMachine) Handle(ev ReqEvent) ([]ReqAction, error) {
	m.out, m.err = nil, nil
	if m.state.Terminal() {
		switch ev.Kind {
		case EvLateReceipt:
			m.lateReceipt(ev)
		case EvCancel:
			m.fail(fmt.Errorf("%w: job is already %s", ErrMachine, m.state))
		}
		return m.out, m.err
	}
	switch ev.Kind {
	case EvStart:
		m.start(ev)
	case EvWindowClosed:
		if m.inRound {
			m.inRound = false
			m.windowClosed(ev.Now, ev.Targeted)
		}
	case EvBid:
		if m.waiting {
			m.waiting = false
			m.startRound(ev.Now)
		}
	case EvTimer:
		m.timer(ev)
	case EvCancel:
		m.cancel(ev.Now)
	case EvLateReceipt:
		m.lateReceipt(ev)
	case EvUnrunnable:
		m.end(JobFailed, ev.Code, ev.Reason, false)
	case EvMemo:
		if m.lookup {
			m.lookup = false
			m.memo(ev)
		}
	default:
		if a := m.awards[ev.Award]; a != nil && a.phase != phEnded {
			m.awardEvent(a, ev)
		}
	}
	return m.out, m.err
}

func (m *RequesterMachine) emit(a ReqAction) { m.out = append(m.out, a) }

func (m *RequesterMachine) fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

// move writes the job's state through JobState.MoveTo.
func (m *RequesterMachine) move(to JobState, evType string, exec peer.ID, format string, args ...any) bool {
	next, err := m.state.MoveTo(to)
	if err != nil {
		m.fail(err)
		return false
	}
	m.state = next
	msg := ""
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	m.emit(ReqAction{Kind: ActSetState, State: next, Message: msg, EventType: evType, Executor: exec})
	return true
}

func (m *RequesterMachine) record(evType string, exec peer.ID, format string, args ...any) {
	m.emit(ReqAction{Kind: ActRecordEvent, EventType: evType, Executor: exec, Message: fmt.Sprintf(format, args...)})
}

func (m *RequesterMachine) setTimer(k TimerKind, a *reqAward, at time.Time) {
	act := ReqAction{Kind: ActSetTimer, Timer: k, At: at}
	if a != nil {
		act.Award, act.Executor = a.id, a.exec
	}
	m.emit(act)
}

// start: §4 "Re-announce and queue timeout" (the queue timer), §4
// "Failover" (a restarted requester re-attaches by Query).
func (m *RequesterMachine) start(ev ReqEvent) {
	now := m.cfg.Created.Add(m.cfg.QueueTimeout)
	m.setTimer(TimerQueue, nil, now)
	var resumed []ResumedAward
	if r := ev.Resume; r != nil {
		m.receipts = append(m.receipts, r.Receipts...)
		m.lost = append(m.lost, r.Lost...)
		resumed = r.Awards
	}
	m.need = max(m.cfg.Count-len(m.receipts), 0)
	if m.cfg.Verify != nil {
		m.need = m.verifyStartNeed()
	}
	if len(resumed) == 0 {
		if m.state != JobPending {
			m.move(JobPending, "state", "", "resumed after a restart")
		}
		if m.cfg.Reuse && !m.cfg.Ops && ((m.cfg.Count == 1 && m.need == 1) || (m.cfg.Verify != nil && len(m.receipts) == 0)) {
			// §9: a receipt the network holds, before any announce.
			m.lookup = true
			m.emit(ReqAction{Kind: ActLookup})
			return
		}
		m.startRound(ev.Now)
		return
	}
	m.resumed = true
	m.move(JobRunning, "status", "", "re-attaching to %d award(s) after a restart", len(resumed))
	for _, r := range resumed {
		m.cfg.Bids.Exclude(r.Executor) // do not award it the same job again
		s := &reqSlot{live: true}
		m.slots = append(m.slots, s)
		a := &reqAward{id: r.Award, exec: r.Executor, slot: s, phase: phAccepted, accepted: r.Accepted,
			live: NewLiveness(r.Award, r.Executor, ev.Now)}
		s.cur = a
		m.awards[a.id] = a
		// Asked once, however late: the receipt may be waiting.
		asked := ev.Now.Add(2 * StreamTimeout)
		a.runDeadline = maxTime(r.Accepted.Add(m.cfg.Timeout+m.cfg.PublishGrace), asked)
		m.setTimer(TimerRun, a, a.runDeadline)
		// This node may not be connected to the network yet: a failed
		// dial is retried until the Query's bound.
		a.retry = true
		m.query(a, asked)
	}
}

// memo: §9 "Lookup": a trusted receipt that succeeded completes the job
// without an award; anything else (none, or one that failed: a failed
// receipt is never reused) goes on to the first round.
func (m *RequesterMachine) memo(ev ReqEvent) {
	if m.cfg.Verify != nil {
		m.memoSet(ev)
		return
	}
	h := ev.Memo
	if h == nil || h.Receipt.Code != "" || h.Receipt.Error != "" || h.Receipt.ExitCode != 0 {
		why := ev.Reason
		switch {
		case h != nil:
			why = fmt.Sprintf("receipt %s of %s did not succeed", ShortText(h.Receipt.CID), ShortPeer(h.Receipt.Executor))
		case why == "":
			why = "none found"
		}
		m.record("memo", "", "no receipt reused: %s", why)
		m.startRound(ev.Now)
		return
	}
	rc := h.Receipt
	m.need--
	m.receipts = append(m.receipts, rc)
	what := ReusedText(rc.Executor, h.Finished)
	m.emit(ReqAction{Kind: ActStoreReceipt, Award: rc.Award, Executor: rc.Executor, Receipt: &rc, Settles: true, Reused: true,
		Message: fmt.Sprintf("%s (receipt %s, exit code %d): no execution", what, ShortText(rc.CID), rc.ExitCode)})
	m.end(JobCompleted, "", "completed: "+what, false)
}

// ReusedText is what a job's record says of a reused receipt: "reused
// receipt of <executor> from <time>".
func ReusedText(exec peer.ID, finished time.Time) string {
	return fmt.Sprintf("reused receipt of %s from %s", exec, finished.UTC().Format(time.RFC3339))
}

// startRound: the job needs awards; pick the bids at hand or announce.
func (m *RequesterMachine) startRound(now time.Time) {
	if !m.cfg.Ops && m.need == 0 {
		m.finish()
		return
	}
	if now.After(m.cfg.Created.Add(m.cfg.QueueTimeout)) {
		m.noExecutor()
		return
	}
	if picks := m.cfg.Bids.PickUpTo(now, m.pickBound()); len(picks) > 0 {
		if m.state == JobPending {
			// Bids that came after the window (during the backoff).
			m.move(JobBidding, "", "", "")
		}
		m.awardPicks(now, picks)
		return
	}
	m.announce(now)
}

func (m *RequesterMachine) announce(now time.Time) {
	m.attempt++
	m.cfg.Bids.Restart(now)
	if m.state != JobBidding {
		m.move(JobBidding, "", "", "")
	}
	m.emit(ReqAction{Kind: ActAnnounce, Attempt: m.attempt, Solicit: m.solicit})
	m.solicit = false
	m.inRound = true
}

// windowClosed: §4 "Rounds" (an empty solicited round is followed by an
// open one at once), "Re-announce" (backoff), "Selection".
func (m *RequesterMachine) windowClosed(now time.Time, targeted bool) {
	picks := m.cfg.Bids.PickUpTo(now, m.pickBound())
	if len(picks) == 0 && targeted {
		m.startRound(now)
		return
	}
	if len(picks) == 0 {
		wait := NextAnnounce(m.backoff)
		m.backoff++
		m.move(JobPending, "state", "", "no acceptable bid yet; announcing again in %s", wait)
		m.waiting = true
		m.setTimer(TimerBackoff, nil, now.Add(wait))
		return
	}
	m.awardPicks(now, picks)
}

// pickBound is how many bids a round may award: the receipts still
// needed, less the slots that follow one (an ops job: no bound).
func (m *RequesterMachine) pickBound() int {
	if m.cfg.Ops {
		return 0
	}
	return max(m.need-m.liveSlots(), 1)
}

func (m *RequesterMachine) awardPicks(now time.Time, picks []Bid) {
	m.backoff = 0
	m.resumed = false
	if !m.cfg.Ops && len(picks) > m.need {
		picks = picks[:m.need]
	}
	slots := make([]*reqSlot, len(picks))
	for i := range picks {
		slots[i] = &reqSlot{live: true}
		m.slots = append(m.slots, slots[i])
	}
	for i, b := range picks {
		m.offer(now, slots[i], b)
	}
}

// offer sends the next award of a slot.
func (m *RequesterMachine) offer(now time.Time, s *reqSlot, b Bid) {
	if !m.cfg.Ops && (s.settled || m.need <= 0) {
		m.endSlot(now, s)
		return
	}
	m.nawards++
	a := &reqAward{id: m.cfg.NewAwardID(), exec: b.Bidder, slot: s, phase: phOffered}
	s.cur = a
	m.awards[a.id] = a
	m.emit(ReqAction{Kind: ActRecordAward, Award: a.id, Executor: a.exec, AwardState: "offered"})
	msg := fmt.Sprintf("awarded to %s (award %s)", ShortPeer(a.exec), a.id.String()[:8])
	if m.state == JobRunning && m.anyAccepted() {
		m.record("award", a.exec, "%s", msg) // for count > 1: running while any award runs
	} else {
		m.move(JobAwarded, "award", a.exec, "%s", msg)
	}
	m.emit(ReqAction{Kind: ActSendAward, Award: a.id, Executor: a.exec, Seq: m.nawards})
}

func (m *RequesterMachine) anyAccepted() bool {
	for _, s := range m.slots {
		if s.live && s.cur != nil && s.cur.phase == phAccepted {
			return true
		}
	}
	return false
}

// awardEvent: what the award's executor said, or that its stream broke.
func (m *RequesterMachine) awardEvent(a *reqAward, ev ReqEvent) {
	now := ev.Now
	switch ev.Kind {
	case EvAwardSent:
		if a.phase == phOffered {
			a.acceptBy = now.Add(StreamTimeout)
			m.setTimer(TimerAccept, a, a.acceptBy)
		}
	case EvAwardSendFailed:
		if a.phase != phOffered {
			return
		}
		if ev.Dialed {
			m.unconfirmed(now, a, ev.Reason)
			return
		}
		m.lose(now, a, CodeAwardLost, ev.Reason) // nothing was written: nothing to cancel
	case EvAccept:
		if a.phase == phOffered {
			m.accepted(now, a, "accepted by %s")
		}
	case EvDecline:
		why := fmt.Sprintf("%s: %s", ev.Code, ev.Reason)
		if a.phase == phOffered {
			// §4 Failover: declined, nothing stored; next best.
			a.phase = phEnded
			m.cfg.Bids.Exclude(a.exec)
			m.emit(ReqAction{Kind: ActRecordAward, Award: a.id, Executor: a.exec, AwardState: "declined", Code: ev.Code, Message: why})
			m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
			m.failover(now, a.slot)
			return
		}
		// unknown_award (or any decline) to a Query: the award fails over,
		// with a Cancel.
		m.drop(now, a, CodeAwardLost, "award declined", why)
	case EvStatus:
		if a.phase == phOffered {
			return
		}
		a.answerBy, a.retryAt, a.retries = time.Time{}, time.Time{}, 0
		if a.phase == phUnconfirmed {
			// The executor did accept: follow it, as if the Accept had come.
			m.accepted(now, a, "accepted by %s (its Accept was lost; re-attached by Query)")
		}
		if ev.Seq <= a.live.Seq() {
			return
		}
		_ = a.live.Observe(&Status{AwardID: a.id, Executor: a.exec, Seq: ev.Seq, Phase: ev.Phase}, now)
		m.setTimer(TimerHeartbeat, a, a.live.Deadline())
		if ev.Phase != PhaseHeartbeat {
			m.emit(ReqAction{Kind: ActRecordAward, Award: a.id, Executor: a.exec, AwardState: string(ev.Phase), Done: ev.Done, Total: ev.Total})
			if ev.Done > 0 || ev.Total > 0 {
				m.record("status", a.exec, "%s on %s (%s of %s)", ev.Phase, ShortPeer(a.exec), jobspec.FormatSize(ev.Done), jobspec.FormatSize(ev.Total))
			} else {
				m.record("status", a.exec, "%s on %s", ev.Phase, ShortPeer(a.exec))
			}
		}
	case EvReceipt:
		if a.phase == phOffered || ev.Receipt == nil {
			return
		}
		a.answerBy, a.retryAt, a.retries = time.Time{}, time.Time{}, 0
		if a.phase == phUnconfirmed {
			m.accepted(now, a, "accepted by %s (its Accept was lost; its receipt came by Query)")
		}
		m.receipt(now, a, ev.Receipt)
	case EvBadMessage:
		if a.phase == phOffered {
			m.lose(now, a, CodeAwardLost, ev.Reason)
			m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
			return
		}
		m.drop(now, a, CodeAwardLost, "message signed by another peer", ev.Reason)
	case EvStreamBroken:
		m.broken(now, a, ev)
	case EvQueryFailed:
		if !now.Before(a.runDeadline) {
			m.overdue(now, a)
			return
		}
		if m.retryQuery(now, a, ev.Reason) {
			return
		}
		m.drop(now, a, CodeAwardLost, "the requester lost the executor", "executor unreachable: "+ev.Reason)
	}
}

// retryQuery: §4 "A requester that restarts": a re-attach Query that
// could not be sent, or whose stream broke before any answer, is no proof
// the executor is gone (this node may not be connected to the network
// yet). It is asked again with backoff (ReattachRetry), early when a
// connection to the executor opens, until its answer deadline; false when
// the award is not retried or that deadline passed.
func (m *RequesterMachine) retryQuery(now time.Time, a *reqAward, cause string) bool {
	if !a.retry || a.answerBy.IsZero() || !now.Before(a.answerBy) {
		return false
	}
	a.lastErr = cause
	if a.retries == 0 {
		m.record("status", a.exec, "re-attach to %s failed (%s); asking again until %s", ShortPeer(a.exec), cause, a.answerBy.UTC().Format(time.RFC3339))
	}
	at := minTime(now.Add(ReattachRetry(a.retries)), a.answerBy)
	a.retries++
	a.retryAt = at
	m.setTimer(TimerRequery, a, at)
	return true
}

// accepted: §7 awarded → running (or running → running for count > 1).
func (m *RequesterMachine) accepted(now time.Time, a *reqAward, format string) {
	if a.phase == phOffered {
		a.runDeadline = now.Add(m.cfg.Timeout + m.cfg.PublishGrace)
		a.live = NewLiveness(a.id, a.exec, now)
		m.setTimer(TimerRun, a, a.runDeadline)
	}
	a.phase = phAccepted
	a.accepted = now
	m.emit(ReqAction{Kind: ActRecordAward, Award: a.id, Executor: a.exec, AwardState: "accepted", Accepted: now})
	m.move(JobRunning, "status", a.exec, format, ShortPeer(a.exec))
	m.emit(ReqAction{Kind: ActSync})
	m.setTimer(TimerHeartbeat, a, minTime(a.live.Deadline(), a.runDeadline))
}

// unconfirmed: §4 "A missing Accept is not yet a failure": Query, bounded
// by the heartbeat deadline.
func (m *RequesterMachine) unconfirmed(now time.Time, a *reqAward, cause string) {
	a.phase = phUnconfirmed
	a.accepted = now
	a.runDeadline = now.Add(m.cfg.Timeout + m.cfg.PublishGrace)
	a.live = NewLiveness(a.id, a.exec, now)
	m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
	m.record("status", a.exec, "no Accept from %s (%s); asking it for award %s", ShortPeer(a.exec), cause, a.id.String()[:8])
	m.setTimer(TimerRun, a, a.runDeadline)
	m.query(a, maxTime(a.live.Deadline(), now.Add(time.Second)))
}

// query asks the executor for the award, its first answer due by bound
// (and never past the run deadline).
func (m *RequesterMachine) query(a *reqAward, bound time.Time) {
	bound = minTime(bound, a.runDeadline)
	a.requeried = true
	a.answerBy = bound
	m.emit(ReqAction{Kind: ActSendQuery, Award: a.id, Executor: a.exec, At: bound})
	m.setTimer(TimerReattach, a, bound)
}

// broken: §4 "A broken award stream is not yet a failure either".
func (m *RequesterMachine) broken(now time.Time, a *reqAward, ev ReqEvent) {
	switch {
	case a.phase == phOffered:
		m.unconfirmed(now, a, ev.Reason)
	case !now.Before(a.runDeadline):
		m.overdue(now, a)
	case a.requeried:
		if m.retryQuery(now, a, ev.Reason) { // broke before any answer
			return
		}
		m.drop(now, a, CodeAwardLost, "the requester lost the executor", "executor unreachable: "+ev.Reason)
	case a.live.Dead(now):
		m.dropSilent(now, a)
	default:
		m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
		bound := now.Add(ReattachTimeout) // no connection left: its process likely died
		if ev.ConnectionLeft {
			bound = maxTime(a.live.Deadline(), now.Add(time.Second))
			a.retry = true // a connection is open: retried to the heartbeat deadline
		}
		m.query(a, bound)
	}
}

func (m *RequesterMachine) timer(ev ReqEvent) {
	now := ev.Now
	switch ev.Timer {
	case TimerBackoff:
		if m.waiting {
			m.waiting = false
			m.startRound(now)
		}
		return
	case TimerQueue:
		// §4: no running award by the queue timeout fails the job; an
		// award in flight is followed to its end first.
		if !m.anyLive() && !now.Before(m.cfg.Created.Add(m.cfg.QueueTimeout)) {
			m.noExecutor()
		}
		return
	}
	a := m.awards[ev.Award]
	if a == nil || a.phase == phEnded {
		return // stale
	}
	if ev.Timer == TimerRequery {
		m.requery(now, a)
		return
	}
	if a.phase == phOffered {
		if ev.Timer == TimerAccept && !a.acceptBy.IsZero() && !now.Before(a.acceptBy) {
			m.unconfirmed(now, a, fmt.Sprintf("no Accept within %s", StreamTimeout))
		}
		return
	}
	switch {
	case !now.Before(a.runDeadline):
		m.overdue(now, a)
	case !a.answerBy.IsZero() && !now.Before(a.answerBy):
		why := "no answer to the Query"
		if a.lastErr != "" {
			why += " (last: " + a.lastErr + ")"
		}
		m.drop(now, a, CodeAwardLost, "the requester lost the executor", "executor unreachable: "+why)
	case a.live.Dead(now):
		if a.requeried {
			m.drop(now, a, CodeAwardLost, "the requester lost the executor", "executor unreachable: no heartbeat")
			return
		}
		m.dropSilent(now, a)
	}
}

// requery sends the pending retry of a re-attach Query (at its time, or
// earlier: a connection to the executor opened).
func (m *RequesterMachine) requery(now time.Time, a *reqAward) {
	if a.retryAt.IsZero() {
		return // stale: sent already, or answered
	}
	a.retryAt = time.Time{}
	switch {
	case !now.Before(a.runDeadline):
		m.overdue(now, a)
	case !now.Before(a.answerBy):
		m.drop(now, a, CodeAwardLost, "the requester lost the executor", "executor unreachable: "+a.lastErr)
	default:
		m.emit(ReqAction{Kind: ActSendQuery, Award: a.id, Executor: a.exec, At: a.answerBy})
	}
}

func (m *RequesterMachine) anyLive() bool {
	for _, s := range m.slots {
		if s.live {
			return true
		}
	}
	return false
}

// dropSilent: §4 Failover, presumed dead after MissedHeartbeats.
func (m *RequesterMachine) dropSilent(now time.Time, a *reqAward) {
	m.drop(now, a, CodeAwardLost, "no heartbeat from the executor", fmt.Sprintf("no heartbeat for %s", HeartbeatInterval*MissedHeartbeats))
}

// overdue: §4 "run deadline": Cancel, lost with run_overdue.
func (m *RequesterMachine) overdue(now time.Time, a *reqAward) {
	m.drop(now, a, CodeRunOverdue, "the run exceeded its deadline", fmt.Sprintf("run overdue: no receipt by %s (accepted %s, timeout %s, publish grace %s); cancelled",
		a.runDeadline.Format(time.RFC3339), a.accepted.Format(time.RFC3339), m.cfg.Timeout, m.cfg.PublishGrace))
}

// drop loses an award that was written and supersedes it: a Cancel on its
// stream and chased over ProtocolReceipt (a late receipt is still read).
func (m *RequesterMachine) drop(now time.Time, a *reqAward, code Code, reason, cause string) {
	m.emit(ReqAction{Kind: ActSendCancel, Award: a.id, Executor: a.exec, Reason: reason, Chase: true})
	m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
	m.lose(now, a, code, cause)
}

// lose records an award as lost, excludes its executor and fails over.
func (m *RequesterMachine) lose(now time.Time, a *reqAward, code Code, cause string) {
	a.phase = phEnded
	m.cfg.Bids.Exclude(a.exec)
	m.emit(ReqAction{Kind: ActRecordAward, Award: a.id, Executor: a.exec, AwardState: "lost", Code: code, Message: cause})
	m.record("error", a.exec, "award to %s lost: %s", ShortPeer(a.exec), cause)
	if m.cfg.Ops {
		m.lost = append(m.lost, AwardLoss{Executor: a.exec, Code: code, Error: cause})
	}
	m.failover(now, a.slot)
}

// failover: §4 "awards the next-best bid whose reservation still holds";
// ops awards do not fail over (each names its node).
func (m *RequesterMachine) failover(now time.Time, s *reqSlot) {
	if v := m.cfg.Verify; v != nil && m.bestGroup() >= v.Quorum {
		// Verified already: a lost replica is not replaced.
		s.live = false
		m.verifyCheck(now)
		return
	}
	if m.cfg.Ops || s.settled || m.need <= 0 {
		m.endSlot(now, s)
		return
	}
	next, ok := m.cfg.Bids.Next(now)
	if !ok {
		m.endSlot(now, s)
		return
	}
	m.offer(now, s, next)
}

// receipt: §4 Failover (retryable codes), Completion (first valid
// receipt settles the award; non-retryable ones are the job's result).
func (m *RequesterMachine) receipt(now time.Time, a *reqAward, rc *ReceiptOutcome) {
	a.phase = phEnded
	m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
	if rc.Code != "" && Retryable(rc.Code) {
		m.cfg.Bids.Exclude(a.exec)
		m.emit(ReqAction{Kind: ActRecordAward, Award: a.id, Executor: a.exec, AwardState: "failed", Code: rc.Code, Message: rc.Error})
		m.record("receipt", a.exec, "retryable failure on %s: %s", ShortPeer(a.exec), rc.Error)
		m.failover(now, a.slot)
		return
	}
	m.take(now, a, rc, false)
	if m.cfg.Verify != nil {
		m.replicaEnded(now, a)
		return
	}
	m.endSlot(now, a.slot)
}

// take stores a final receipt as the job's when its slot is not settled
// and the job still needs one (the first valid receipt wins), else as a
// late receipt. It reports whether it settled the slot.
func (m *RequesterMachine) take(now time.Time, a *reqAward, rc *ReceiptOutcome, late bool) bool {
	if a.receipt {
		return false // stored once
	}
	a.receipt = true
	s := a.slot
	taken := s != nil && !s.settled && (m.cfg.Ops || m.need > 0) && !m.state.Terminal()
	if late && (m.cfg.Ops || m.cfg.Verify != nil || (rc.Code != "" && (Retryable(rc.Code) || rc.Code == CodeCancelled))) {
		// A verified job counts the replicas it follows (a superseded
		// award's receipt is recorded, not counted).
		// What the award would not have settled with, the outcome of this
		// requester's own Cancel, or an ops award (nothing superseded it).
		taken = false
	}
	short8 := rc.Award.String()[:8]
	if !taken {
		why := "the job was already settled"
		if rc.Error != "" {
			why = rc.Error
		}
		m.emit(ReqAction{Kind: ActStoreReceipt, Award: a.id, Executor: a.exec, Receipt: rc, Late: late,
			Message: fmt.Sprintf("late receipt %s of award %s from %s recorded (%s); it does not settle the job", ShortText(rc.CID), short8, ShortPeer(rc.Executor), why)})
		return false
	}
	s.settled = true
	if !m.cfg.Ops {
		m.need--
	}
	m.receipts = append(m.receipts, *rc)
	msg := fmt.Sprintf("receipt %s from %s: exit code %d", ShortText(rc.CID), ShortPeer(rc.Executor), rc.ExitCode)
	if late {
		msg = fmt.Sprintf("late receipt %s of superseded award %s from %s: exit code %d; it settles the job (first valid receipt wins)",
			ShortText(rc.CID), short8, ShortPeer(rc.Executor), rc.ExitCode)
	}
	m.emit(ReqAction{Kind: ActStoreReceipt, Award: a.id, Executor: a.exec, Receipt: rc, Settles: true, Late: late, Message: msg})
	return true
}

// lateReceipt: §4 Completion, a late receipt of a superseded award.
func (m *RequesterMachine) lateReceipt(ev ReqEvent) {
	rc := ev.Receipt
	if rc == nil {
		return
	}
	a := m.awards[rc.Award]
	if a == nil { // an award of an earlier run of the job
		a = &reqAward{id: rc.Award, exec: rc.Executor, phase: phEnded}
		m.awards[a.id] = a
	}
	if !m.take(ev.Now, a, rc, true) {
		return
	}
	// The slot is settled: the award it follows now is superseded; when
	// that slot gave up meanwhile, one slot too many is.
	s := a.slot
	victim := s
	if !s.live {
		victim = nil
		if m.liveSlots() > m.need {
			for _, o := range m.slots {
				if o.live && !o.settled && o.cur != nil && o.cur.phase != phEnded {
					victim = o
					break
				}
			}
		}
	}
	if victim != nil && victim.live && victim.cur != nil && victim.cur.phase != phEnded {
		m.superseded(ev.Now, victim.cur, rc.Award)
		return
	}
	if m.need == 0 && !m.anyLive() {
		// Settled between rounds (re-announcing, or in a bid window).
		m.finish()
	}
}

func (m *RequesterMachine) liveSlots() int {
	n := 0
	for _, s := range m.slots {
		if s.live {
			n++
		}
	}
	return n
}

// superseded ends an award whose slot a late receipt settled: cancelled,
// with code superseded.
func (m *RequesterMachine) superseded(now time.Time, a *reqAward, by AwardID) {
	a.phase = phEnded
	m.emit(ReqAction{Kind: ActRecordAward, Award: a.id, Executor: a.exec, AwardState: "cancelled", Code: CodeSuperseded,
		Message: "a late receipt of award " + by.String()[:8] + " settled the job first"})
	m.record("award", a.exec, "award %s to %s cancelled: a late receipt settled the job first", a.id.String()[:8], ShortPeer(a.exec))
	m.emit(ReqAction{Kind: ActSendCancel, Award: a.id, Executor: a.exec, Reason: "cancelled by the requester"})
	m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
	a.slot.settled = true
	m.endSlot(now, a.slot)
}

func (m *RequesterMachine) endSlot(now time.Time, s *reqSlot) {
	if !s.live {
		return
	}
	s.live = false
	if !m.anyLive() {
		m.roundOver(now)
	}
}

// roundOver: every slot of the round ended.
func (m *RequesterMachine) roundOver(now time.Time) {
	resumed := m.resumed
	m.resumed = false
	m.slots = nil
	if m.cfg.Ops {
		if !resumed || len(m.receipts) > 0 {
			m.finish() // ops awards do not fail over
			return
		}
	} else if m.need == 0 {
		m.finish()
		return
	}
	if m.state != JobPending && m.state != JobBidding {
		m.move(JobPending, "state", "", "no bid left: re-announce")
	}
	m.startRound(now)
}

// finish: §7 → completed when every receipt succeeded, else failed with
// the first failure's code.
func (m *RequesterMachine) finish() {
	if m.cfg.Verify != nil {
		m.verifyFinal("")
		return
	}
	var failures []string
	var code Code
	failed := func(c Code, msg string) {
		if code == "" {
			code = c
		}
		failures = append(failures, msg)
	}
	for _, r := range m.receipts {
		switch {
		case r.Error != "":
			c := r.Code
			if c == "" {
				c = codeOf(r.Error)
			}
			failed(c, fmt.Sprintf("%s on %s", r.Error, ShortPeer(r.Executor)))
		case r.ExitCode != 0:
			failed(CodeExitNonZero, fmt.Sprintf("exit code %d on %s", r.ExitCode, ShortPeer(r.Executor)))
		}
	}
	for _, l := range m.lost {
		c := l.Code
		if c == "" {
			c = CodeAwardLost
		}
		failed(c, fmt.Sprintf("%s lost: %s", ShortPeer(l.Executor), l.Error))
	}
	if len(m.receipts) == 0 {
		failed(CodeNoReceipt, "no receipt")
	}
	if len(failures) == 0 {
		m.end(JobCompleted, "", fmt.Sprintf("completed (%d receipt(s))", len(m.receipts)), false)
		return
	}
	m.end(JobFailed, code, strings.Join(failures, "; "), false)
}

func codeOf(msg string) Code {
	head, _, _ := strings.Cut(msg, ":")
	if c := Code(head); c.Valid() {
		return c
	}
	return ""
}

func (m *RequesterMachine) noExecutor() {
	if m.cfg.Verify != nil && len(m.receipts) > 0 {
		m.cancelLive("the job's queue timeout passed")
		m.verifyFinal(fmt.Sprintf("no more replicas within the queue timeout (%s)", m.cfg.QueueTimeout))
		return
	}
	m.end(JobFailed, CodeNoExecutor, fmt.Sprintf("no executor completed the job within its queue timeout (%s)", m.cfg.QueueTimeout), true)
}

func (m *RequesterMachine) end(s JobState, code Code, msg string, reasons bool) {
	next, err := m.state.MoveTo(s)
	if err != nil {
		m.fail(err)
		return
	}
	m.state = next
	m.waiting, m.inRound = false, false
	m.emit(ReqAction{Kind: ActFinish, State: next, Code: code, Message: msg, ListReasons: reasons})
}

// cancel: §7 any non-terminal → cancelled; every award in flight is
// cancelled on its executor.
func (m *RequesterMachine) cancel(now time.Time) {
	for _, s := range m.slots {
		if a := s.cur; s.live && a != nil && a.phase != phEnded {
			a.phase = phEnded
			m.emit(ReqAction{Kind: ActSendCancel, Award: a.id, Executor: a.exec, Reason: "cancelled by the requester"})
			m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
		}
		s.live = false
	}
	m.end(JobCancelled, CodeCancelled, "cancelled by the user", false)
}

// ResubmitState is the state of a failed or cancelled job submitted
// again: a new run of its record, at pending. It is not a transition of
// the run that ended (that stays terminal); other states are refused.
func ResubmitState(s JobState) (JobState, error) {
	if s != JobFailed && s != JobCancelled {
		return s, fmt.Errorf("%w: job %s cannot be submitted again", ErrBadTransition, s)
	}
	return JobPending, nil
}

// RerunState is the state of a job submitted again with reuse off
// (--no-reuse, docs/protocol.md §9): a completed job runs afresh too, as a
// new run of its record at pending; otherwise as ResubmitState.
func RerunState(s JobState) (JobState, error) {
	if s == JobCompleted {
		return JobPending, nil
	}
	return ResubmitState(s)
}

// ShortPeer abbreviates a peer ID for logs.
func ShortPeer(p peer.ID) string { return ShortText(p.String()) }

// ShortText abbreviates an ID (a peer ID, a CID) for logs: its first 8
// characters, an ellipsis and its last 6.
func ShortText(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
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

// ReattachRetry is the wait before the re-attach Query that follows n
// failed ones (n ≥ 0): ReattachRetryMin doubling to ReattachRetryMax.
func ReattachRetry(n int) time.Duration {
	d := ReattachRetryMin
	for i := 0; i < n && d < ReattachRetryMax; i++ {
		d *= 2
	}
	return min(d, ReattachRetryMax)
}
