package bidding

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The table of docs/protocol.md's requester rules (§4) and job transitions
// (§7), each row driving a RequesterMachine with events and asserting its
// actions and codes. No network, no goroutines, no clock: time is t0 plus
// what a row says.

// fakeBids is a BidSource whose picks and next-best bids a row sets.
type fakeBids struct {
	picks    [][]Bid // returned by successive Pick calls (then none)
	next     []Bid   // returned by successive Next calls (then none)
	excluded []peer.ID
	restarts int
}

func (f *fakeBids) PickUpTo(_ time.Time, n int) []Bid {
	if len(f.picks) == 0 {
		return nil
	}
	p := f.picks[0]
	f.picks = f.picks[1:]
	if n > 0 && len(p) > n {
		p = p[:n]
	}
	return p
}

func (f *fakeBids) Next(time.Time) (Bid, bool) {
	if len(f.next) == 0 {
		return Bid{}, false
	}
	b := f.next[0]
	f.next = f.next[1:]
	return b, true
}

func (f *fakeBids) Exclude(p peer.ID) { f.excluded = append(f.excluded, p) }
func (f *fakeBids) Restart(time.Time) { f.restarts++ }
func (f *fakeBids) isExcluded(p peer.ID) bool {
	for _, x := range f.excluded {
		if x == p {
			return true
		}
	}
	return false
}

var (
	peerA, peerB, peerC = peer.ID("exec-a"), peer.ID("exec-b"), peer.ID("exec-c")
	testJob             = cid.MustParse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
)

func bid(p peer.ID) Bid { return Bid{JobCID: testJob, Bidder: p} }

// aid is the n-th award ID the harness's machine makes.
func aid(n byte) AwardID { return AwardID{15: n} }

// harness drives one machine and keeps every state it went through.
type harness struct {
	t     *testing.T
	m     *RequesterMachine
	bids  *fakeBids
	now   time.Time
	moves map[[2]JobState]bool // transitions seen
}

type cfgOpt func(*ReqConfig)

func count(n int) cfgOpt          { return func(c *ReqConfig) { c.Count = n } }
func ops() cfgOpt                 { return func(c *ReqConfig) { c.Ops = true } }
func fromState(s JobState) cfgOpt { return func(c *ReqConfig) { c.State = s } }
func reuse() cfgOpt               { return func(c *ReqConfig) { c.Reuse = true } }

// memoHit is an EvMemo with a receipt of an earlier run by p (exit code).
func memoHit(p peer.ID, exit int, code Code) ReqEvent {
	rc := ReceiptOutcome{Award: AwardID{0: 9}, Executor: p, CID: "bafyearlier", ExitCode: exit, Code: code}
	if code != "" {
		rc.Error = string(code) + ": it failed"
	}
	return ReqEvent{Kind: EvMemo, Memo: &MemoHit{Receipt: rc, Finished: t0.Add(-time.Hour)}}
}

func newHarness(t *testing.T, moves map[[2]JobState]bool, opts ...cfgOpt) *harness {
	bids := &fakeBids{}
	var n byte
	cfg := ReqConfig{Job: testJob, Count: 1, Timeout: 10 * time.Second, QueueTimeout: 5 * time.Minute, PublishGrace: 2 * time.Minute,
		Created: t0, Bids: bids, NewAwardID: func() AwardID { n++; return aid(n) }}
	for _, o := range opts {
		o(&cfg)
	}
	return &harness{t: t, m: NewRequesterMachine(cfg), bids: bids, now: t0, moves: moves}
}

// at sets the harness clock to t0 + d.
func (h *harness) at(d time.Duration) *harness { h.now = t0.Add(d); return h }

// do feeds one event at the harness's time; an error fails the row.
func (h *harness) do(ev ReqEvent) []ReqAction {
	h.t.Helper()
	acts, err := h.try(ev)
	if err != nil {
		h.t.Fatalf("event %d: %v", ev.Kind, err)
	}
	return acts
}

func (h *harness) try(ev ReqEvent) ([]ReqAction, error) {
	if ev.Now.IsZero() {
		ev.Now = h.now
	}
	before := h.m.State()
	acts, err := h.m.Handle(ev)
	s := before
	for _, a := range acts {
		if a.Kind == ActSetState || a.Kind == ActFinish {
			if !s.CanMoveTo(a.State) {
				h.t.Fatalf("the machine wrote %s -> %s, which JobState refuses", s, a.State)
			}
			h.moves[[2]JobState{s, a.State}] = true
			s = a.State
		}
	}
	if s != h.m.State() {
		h.t.Fatalf("actions end in %s, the machine says %s", s, h.m.State())
	}
	return acts, err
}

func (h *harness) start() []ReqAction { return h.do(ReqEvent{Kind: EvStart}) }

// window closes the open round with these picks.
func (h *harness) window(picks ...Bid) []ReqAction {
	h.bids.picks = append(h.bids.picks, picks)
	return h.do(ReqEvent{Kind: EvWindowClosed})
}

func (h *harness) ev(k ReqEventKind, award byte, mut ...func(*ReqEvent)) []ReqAction {
	h.t.Helper()
	ev := ReqEvent{Kind: k, Award: aid(award)}
	for _, f := range mut {
		f(&ev)
	}
	return h.do(ev)
}

func (h *harness) timer(k TimerKind, award byte) []ReqAction {
	h.t.Helper()
	ev := ReqEvent{Kind: EvTimer, Timer: k}
	if award > 0 {
		ev.Award = aid(award)
	}
	return h.do(ev)
}

// running brings a fresh job of one pick to running on award 1 at t0.
func (h *harness) running(p peer.ID) {
	h.t.Helper()
	h.start()
	h.window(bid(p))
	h.ev(EvAwardSent, 1)
	h.ev(EvAccept, 1)
}

func okReceipt(award byte, p peer.ID) func(*ReqEvent) {
	return func(e *ReqEvent) {
		e.Receipt = &ReceiptOutcome{Award: aid(award), Executor: p, CID: "bafyreceipt" + fmt.Sprint(award)}
	}
}

func codeReceipt(award byte, p peer.ID, c Code) func(*ReqEvent) {
	return func(e *ReqEvent) {
		e.Receipt = &ReceiptOutcome{Award: aid(award), Executor: p, CID: "bafyreceipt", Code: c, Error: string(c) + ": it failed"}
	}
}

// find returns the actions of kind k (and award, when given).
func find(acts []ReqAction, k ReqActionKind, award ...byte) []ReqAction {
	var out []ReqAction
	for _, a := range acts {
		if a.Kind == k && (len(award) == 0 || a.Award == aid(award[0])) {
			out = append(out, a)
		}
	}
	return out
}

func (h *harness) must(acts []ReqAction, k ReqActionKind, award ...byte) ReqAction {
	h.t.Helper()
	got := find(acts, k, award...)
	if len(got) == 0 {
		h.t.Fatalf("no action %d %v in %s", k, award, dump(acts))
	}
	return got[0]
}

func (h *harness) none(acts []ReqAction, k ReqActionKind, award ...byte) {
	h.t.Helper()
	if got := find(acts, k, award...); len(got) > 0 {
		h.t.Fatalf("unexpected action %d %v in %s", k, award, dump(acts))
	}
}

// awardRecord returns the record action of an award that sets state st.
func (h *harness) awardRecord(acts []ReqAction, award byte, st string) ReqAction {
	h.t.Helper()
	for _, a := range find(acts, ActRecordAward, award) {
		if a.AwardState == st {
			return a
		}
	}
	h.t.Fatalf("award %d not recorded %s in %s", award, st, dump(acts))
	return ReqAction{}
}

func (h *harness) finish(acts []ReqAction, st JobState, code Code) ReqAction {
	h.t.Helper()
	f := h.must(acts, ActFinish)
	if f.State != st || f.Code != code {
		h.t.Fatalf("finish %s %q (%s), want %s %q", f.State, f.Code, f.Message, st, code)
	}
	return f
}

func (h *harness) state(want JobState) {
	h.t.Helper()
	if got := h.m.State(); got != want {
		h.t.Fatalf("state %s, want %s", got, want)
	}
}

func dump(acts []ReqAction) string {
	var b strings.Builder
	for _, a := range acts {
		fmt.Fprintf(&b, "\n  %d award=%x state=%s %s %s code=%s timer=%s at=%s %q", a.Kind, a.Award[15], a.State, a.AwardState, a.Executor, a.Code, a.Timer, a.At.Sub(t0), a.Message)
	}
	return b.String()
}

type reqRow struct {
	name string
	rule string // the line of docs/protocol.md the row tests
	run  func(h *harness)
	opts []cfgOpt
}

var reqRows = []reqRow{
	// §9 Memoization: lookup → reuse or announce.
	{name: "memo: lookup before the first announce", rule: "§9 Lookup: a reusable job looks up a receipt before it announces", opts: []cfgOpt{reuse()}, run: func(h *harness) {
		acts := h.start()
		h.must(acts, ActLookup)
		h.none(acts, ActAnnounce)
		h.state(JobPending)
	}},
	{name: "memo: pending→completed by a reused receipt", rule: "§9 Reuse: a trusted receipt that succeeded completes the job without execution", opts: []cfgOpt{reuse()}, run: func(h *harness) {
		h.start()
		acts := h.do(memoHit(peerB, 0, ""))
		s := h.must(acts, ActStoreReceipt)
		if !s.Settles || !s.Reused || s.Receipt.Executor != peerB || !strings.Contains(s.Message, "reused receipt of "+peerB.String()+" from "+t0.Add(-time.Hour).Format(time.RFC3339)) {
			h.t.Fatalf("store %+v", s)
		}
		h.none(acts, ActAnnounce)
		h.none(acts, ActSendAward)
		f := h.finish(acts, JobCompleted, "")
		if !strings.Contains(f.Message, "reused receipt of") {
			h.t.Fatalf("finish %+v", f)
		}
	}},
	{name: "memo: none found, announce", rule: "§9 Lookup: no receipt (or none trusted) → the first round", opts: []cfgOpt{reuse()}, run: func(h *harness) {
		h.start()
		acts := h.do(ReqEvent{Kind: EvMemo, Reason: "no record"})
		if a := h.must(acts, ActAnnounce); a.Attempt != 1 || !a.Solicit {
			h.t.Fatalf("announce %+v", a)
		}
		if e := h.must(acts, ActRecordEvent); !strings.Contains(e.Message, "no record") {
			h.t.Fatalf("event %+v", e)
		}
		h.none(acts, ActStoreReceipt)
		h.state(JobBidding)
	}},
	{name: "memo: a failed receipt is never reused", rule: "§9 Reuse: a failed receipt is never reused", opts: []cfgOpt{reuse()}, run: func(h *harness) {
		for _, ev := range []ReqEvent{memoHit(peerB, 1, ""), memoHit(peerB, 0, CodeTimeout)} {
			h := newHarness(h.t, h.moves, reuse())
			h.start()
			acts := h.do(ev)
			h.none(acts, ActStoreReceipt)
			h.none(acts, ActFinish)
			h.must(acts, ActAnnounce)
		}
	}},
	{name: "memo: no lookup without reuse", rule: "§9 Lookup: --no-reuse, reuse: never, non-deterministic, ops and count > 1 jobs announce at once", opts: []cfgOpt{count(2), reuse()}, run: func(h *harness) {
		acts := h.start()
		h.none(acts, ActLookup)
		h.must(acts, ActAnnounce)
		acts = newHarness(h.t, h.moves).start()
		h.none(acts, ActLookup)
	}},
	{name: "memo: cancelled while looking up", rule: "§7 pending → cancelled; §9 a lookup's late answer is ignored", opts: []cfgOpt{reuse()}, run: func(h *harness) {
		h.start()
		h.finish(h.do(ReqEvent{Kind: EvCancel}), JobCancelled, CodeCancelled)
		if acts := h.do(memoHit(peerB, 0, "")); len(acts) != 0 {
			h.t.Fatalf("actions after the end: %s", dump(acts))
		}
	}},
	{name: "memo: a second answer is ignored", rule: "§9 one lookup per run", opts: []cfgOpt{reuse()}, run: func(h *harness) {
		h.start()
		h.do(ReqEvent{Kind: EvMemo})
		if acts := h.do(memoHit(peerB, 0, "")); len(find(acts, ActStoreReceipt)) != 0 {
			h.t.Fatalf("a second EvMemo was taken: %s", dump(acts))
		}
	}},
	// §7 Allowed transitions, pending → …
	{name: "pending→bidding", rule: "§7 pending → bidding; §4 Rounds: the first round is solicited", run: func(h *harness) {
		acts := h.start()
		h.state(JobBidding)
		a := h.must(acts, ActAnnounce)
		if a.Attempt != 1 || !a.Solicit {
			h.t.Fatalf("announce %+v", a)
		}
		if q := h.must(acts, ActSetTimer); q.Timer != TimerQueue || !q.At.Equal(t0.Add(5*time.Minute)) {
			h.t.Fatalf("queue timer %+v", q)
		}
	}},
	{name: "pending→failed", rule: "§4 Re-announce and queue timeout: queue_timeout without a running award fails the job (no_executor)", run: func(h *harness) {
		h.start()
		h.window()
		h.state(JobPending)
		h.at(5*time.Minute + time.Millisecond)
		f := h.finish(h.timer(TimerQueue, 0), JobFailed, CodeNoExecutor)
		if !f.ListReasons || !strings.Contains(f.Message, "queue timeout (5m0s)") {
			h.t.Fatalf("finish %+v", f)
		}
	}},
	{name: "pending→cancelled", rule: "§7 pending → cancelled", run: func(h *harness) {
		h.start()
		h.window()
		h.finish(h.do(ReqEvent{Kind: EvCancel}), JobCancelled, CodeCancelled)
	}},
	{name: "pending→completed", rule: "§4 Completion: a late receipt of a superseded award settles the job while it re-announces", run: func(h *harness) {
		h.running(peerA)
		h.at(3 * time.Second)
		h.timer(TimerHeartbeat, 1) // lost, no next bid: re-announce
		h.window()                 // empty: backoff
		h.state(JobPending)
		acts := h.do(ReqEvent{Kind: EvLateReceipt, Receipt: &ReceiptOutcome{Award: aid(1), Executor: peerA, CID: "bafyr"}})
		if s := h.must(acts, ActStoreReceipt, 1); !s.Settles || !s.Late || !strings.Contains(s.Message, "first valid receipt wins") {
			h.t.Fatalf("store %+v", s)
		}
		h.finish(acts, JobCompleted, "")
	}},
	{name: "pending→failed (spec)", rule: "§6 bad_spec, spec_unavailable: the job cannot run", run: func(h *harness) {
		acts := h.do(ReqEvent{Kind: EvUnrunnable, Code: CodeBadSpec, Reason: "job spec: bad"})
		h.finish(acts, JobFailed, CodeBadSpec)
	}},
	// bidding → …
	{name: "bidding→awarded", rule: "§4 Selection: award the best count; §7 bidding → awarded", run: func(h *harness) {
		h.start()
		acts := h.window(bid(peerA), bid(peerB)) // count 1: the best only
		h.state(JobAwarded)
		if s := find(acts, ActSendAward); len(s) != 1 || s[0].Executor != peerA || s[0].Seq != 1 {
			h.t.Fatalf("awards %s", dump(acts))
		}
		h.awardRecord(acts, 1, "offered")
		// The Accept is due StreamTimeout after the award was written.
		if tm := h.must(h.ev(EvAwardSent, 1), ActSetTimer, 1); tm.Timer != TimerAccept || !tm.At.Equal(t0.Add(StreamTimeout)) {
			h.t.Fatalf("accept timer %+v", tm)
		}
	}},
	{name: "bidding→pending", rule: "§4 Re-announce: an empty open window waits NextAnnounce(attempt) and announces again", run: func(h *harness) {
		h.start()
		acts := h.window()
		h.state(JobPending)
		if tm := h.must(acts, ActSetTimer); tm.Timer != TimerBackoff {
			h.t.Fatalf("timer %+v", tm)
		}
	}},
	{name: "bidding→failed", rule: "§4 queue timeout during a bid window", run: func(h *harness) {
		h.start()
		h.at(6 * time.Minute)
		h.finish(h.timer(TimerQueue, 0), JobFailed, CodeNoExecutor)
	}},
	{name: "bidding→cancelled", rule: "§7 bidding → cancelled", run: func(h *harness) {
		h.start()
		h.finish(h.do(ReqEvent{Kind: EvCancel}), JobCancelled, CodeCancelled)
	}},
	{name: "bidding→completed", rule: "§4 Completion: a late receipt settles the job during a re-announce's bid window", run: func(h *harness) {
		h.running(peerA)
		h.at(3 * time.Second)
		h.timer(TimerHeartbeat, 1)
		h.state(JobBidding)
		acts := h.do(ReqEvent{Kind: EvLateReceipt, Receipt: &ReceiptOutcome{Award: aid(1), Executor: peerA, CID: "bafyr"}})
		h.finish(acts, JobCompleted, "")
		// The window that closes afterwards changes nothing.
		if acts := h.window(bid(peerB)); len(acts) != 0 {
			h.t.Fatalf("after the end: %s", dump(acts))
		}
	}},
	// awarded → …
	{name: "awarded→awarded", rule: "§4 Failover: the executor declines → next best (Selector.Next), new AwardID; §7 awarded → awarded", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.bids.next = []Bid{bid(peerB)}
		acts := h.ev(EvDecline, 1, func(e *ReqEvent) { e.Code, e.Reason = CodeNoCapacity, "full" })
		h.state(JobAwarded)
		if r := h.awardRecord(acts, 1, "declined"); r.Code != CodeNoCapacity {
			h.t.Fatalf("declined %+v", r)
		}
		h.none(acts, ActSendCancel) // a decline stores nothing: nothing to cancel
		if s := h.must(acts, ActSendAward, 2); s.Executor != peerB {
			h.t.Fatalf("next award %+v", s)
		}
		if !h.bids.isExcluded(peerA) {
			h.t.Fatal("the decliner is not excluded")
		}
	}},
	{name: "awarded→running", rule: "§7 awarded --Accept--> running; the accepted award is synced; heartbeat and run deadlines set", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.ev(EvAwardSent, 1)
		h.at(time.Second)
		acts := h.ev(EvAccept, 1)
		h.state(JobRunning)
		h.must(acts, ActSync)
		if r := h.awardRecord(acts, 1, "accepted"); !r.Accepted.Equal(t0.Add(time.Second)) {
			h.t.Fatalf("accepted %+v", r)
		}
		var hb, run bool
		for _, tm := range find(acts, ActSetTimer, 1) {
			hb = hb || tm.Timer == TimerHeartbeat && tm.At.Equal(t0.Add(time.Second+MissedHeartbeats*HeartbeatInterval))
			run = run || tm.Timer == TimerRun && tm.At.Equal(t0.Add(time.Second+10*time.Second+2*time.Minute))
		}
		if !hb || !run {
			h.t.Fatalf("timers %s", dump(acts))
		}
	}},
	{name: "awarded→pending", rule: "§7 awarded --no bid left: re-announce--> pending; §4 Failover: with none left it re-announces", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		acts := h.ev(EvDecline, 1, func(e *ReqEvent) { e.Code = CodeNoCapacity })
		h.state(JobBidding) // pending, then announced at once
		if a := h.must(acts, ActAnnounce); a.Attempt != 2 || a.Solicit {
			h.t.Fatalf("re-announce %+v", a)
		}
	}},
	{name: "awarded→failed", rule: "§4 Selection (ops: each award its own slot) + Failover: an ops award lost does not fail over; award_lost fails the job", opts: []cfgOpt{ops(), count(0)}, run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.ev(EvAwardSent, 1)
		h.bids.next = []Bid{bid(peerB)}
		h.at(StreamTimeout)
		h.timer(TimerAccept, 1)
		h.at(StreamTimeout + 3*time.Second)
		acts := h.timer(TimerReattach, 1) // no answer to the Query
		h.none(acts, ActSendAward)
		h.finish(acts, JobFailed, CodeAwardLost)
	}},
	{name: "awarded→cancelled", rule: "§7 awarded → cancelled: the award in flight is cancelled on its executor", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		acts := h.do(ReqEvent{Kind: EvCancel})
		if c := h.must(acts, ActSendCancel, 1); c.Executor != peerA || c.Chase {
			h.t.Fatalf("cancel %+v", c)
		}
		h.finish(acts, JobCancelled, CodeCancelled)
	}},
	{name: "awarded→completed", rule: "§4 Completion: a late receipt settles the job while the newer award is offered; the newer award is cancelled (superseded)", run: func(h *harness) {
		h.running(peerA)
		h.bids.next = []Bid{bid(peerB)}
		h.at(3 * time.Second)
		h.timer(TimerHeartbeat, 1)
		h.state(JobAwarded) // award 2 offered to B
		acts := h.do(ReqEvent{Kind: EvLateReceipt, Receipt: &ReceiptOutcome{Award: aid(1), Executor: peerA, CID: "bafyr"}})
		if r := h.awardRecord(acts, 2, "cancelled"); r.Code != CodeSuperseded {
			h.t.Fatalf("newer award %+v", r)
		}
		h.must(acts, ActSendCancel, 2)
		h.finish(acts, JobCompleted, "")
	}},
	// running → …
	{name: "running→running", rule: "§7 count > 1: running while any award runs; a second Accept keeps it running", opts: []cfgOpt{count(2)}, run: func(h *harness) {
		h.start()
		acts := h.window(bid(peerA), bid(peerB))
		if len(find(acts, ActSendAward)) != 2 {
			h.t.Fatalf("count 2: %s", dump(acts))
		}
		h.ev(EvAccept, 1)
		h.state(JobRunning)
		acts = h.ev(EvAccept, 2)
		if s := h.must(acts, ActSetState); s.State != JobRunning {
			h.t.Fatalf("second accept %+v", s)
		}
		h.ev(EvReceipt, 1, okReceipt(1, peerA))
		h.state(JobRunning)
		h.finish(h.ev(EvReceipt, 2, okReceipt(2, peerB)), JobCompleted, "")
	}},
	{name: "running→awarded", rule: "§4 Failover: presumed dead after MissedHeartbeats × HeartbeatInterval → Cancel (chased) + next best; §7 running → awarded", run: func(h *harness) {
		h.running(peerA)
		h.bids.next = []Bid{bid(peerB)}
		h.at(3 * time.Second)
		acts := h.timer(TimerHeartbeat, 1)
		if c := h.must(acts, ActSendCancel, 1); !c.Chase || c.Executor != peerA {
			h.t.Fatalf("cancel %+v", c)
		}
		if r := h.awardRecord(acts, 1, "lost"); r.Code != CodeAwardLost || !strings.Contains(r.Message, "no heartbeat") {
			h.t.Fatalf("lost %+v", r)
		}
		h.must(acts, ActSendAward, 2)
		h.state(JobAwarded)
	}},
	{name: "running→pending", rule: "§7 running --executor dead, no bid left: re-announce--> pending", run: func(h *harness) {
		h.running(peerA)
		h.at(3 * time.Second)
		acts := h.timer(TimerHeartbeat, 1)
		h.must(acts, ActSendCancel, 1)
		h.must(acts, ActAnnounce)
		h.state(JobBidding)
	}},
	{name: "running→completed", rule: "§4 Completion: the first valid receipt settles it; §7 running --receipts ok--> completed", run: func(h *harness) {
		h.running(peerA)
		acts := h.ev(EvReceipt, 1, okReceipt(1, peerA))
		if s := h.must(acts, ActStoreReceipt, 1); !s.Settles || s.Late {
			h.t.Fatalf("store %+v", s)
		}
		h.finish(acts, JobCompleted, "")
		// A duplicate (same award, another stream) is stored once.
		if acts := h.do(ReqEvent{Kind: EvLateReceipt, Receipt: &ReceiptOutcome{Award: aid(1), Executor: peerA}}); len(acts) != 0 {
			h.t.Fatalf("duplicate: %s", dump(acts))
		}
	}},
	{name: "running→failed", rule: "§4 Failover: a non-retryable failure (timeout, out_of_memory, disk_limit, cancelled) is the job's result: no retry", run: func(h *harness) {
		h.running(peerA)
		h.bids.next = []Bid{bid(peerB)}
		acts := h.ev(EvReceipt, 1, codeReceipt(1, peerA, CodeTimeout))
		h.none(acts, ActSendAward)
		h.finish(acts, JobFailed, CodeTimeout)
	}},
	{name: "running→cancelled", rule: "§7 running → cancelled: Cancel to the executor, code cancelled", run: func(h *harness) {
		h.running(peerA)
		acts := h.do(ReqEvent{Kind: EvCancel})
		h.must(acts, ActSendCancel, 1)
		h.must(acts, ActStopAward, 1)
		h.finish(acts, JobCancelled, CodeCancelled)
		if _, err := h.try(ReqEvent{Kind: EvCancel}); err == nil {
			h.t.Fatal("a cancelled job cancelled again")
		}
	}},

	// §4 Failover rules.
	{name: "lost Accept: Query, Status re-attaches", rule: "§4 A missing Accept is not yet a failure: Query bounded by the heartbeat deadline; a Status means it accepted", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.ev(EvAwardSent, 1)
		h.bids.next = []Bid{bid(peerB)}
		h.at(StreamTimeout)
		acts := h.timer(TimerAccept, 1)
		h.none(acts, ActSendCancel)
		h.none(acts, ActSendAward)
		if q := h.must(acts, ActSendQuery, 1); !q.At.Equal(t0.Add(StreamTimeout + MissedHeartbeats*HeartbeatInterval)) {
			h.t.Fatalf("query bound %s", q.At.Sub(t0))
		}
		h.at(StreamTimeout + time.Second)
		acts = h.ev(EvStatus, 1, func(e *ReqEvent) { e.Phase, e.Seq = PhaseRunning, 4 })
		h.state(JobRunning)
		if s := h.must(acts, ActSetState); !strings.Contains(s.Message, "Accept was lost; re-attached by Query") {
			h.t.Fatalf("state %+v", s)
		}
		h.finish(h.ev(EvReceipt, 1, okReceipt(1, peerA)), JobCompleted, "")
	}},
	{name: "lost Accept: receipt by Query", rule: "§4 a Status or the receipt means it accepted", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.ev(EvAwardSendFailed, 1, func(e *ReqEvent) { e.Dialed, e.Reason = true, "stream reset" })
		acts := h.ev(EvReceipt, 1, okReceipt(1, peerA))
		h.finish(acts, JobCompleted, "")
	}},
	{name: "lost Accept: unknown_award → Cancel + next", rule: "§4 Only unknown_award or no answer fails the award over, with a Cancel", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.ev(EvAwardSent, 1)
		h.bids.next = []Bid{bid(peerB)}
		h.at(StreamTimeout)
		h.timer(TimerAccept, 1)
		acts := h.ev(EvDecline, 1, func(e *ReqEvent) { e.Code = CodeUnknownAward })
		if c := h.must(acts, ActSendCancel, 1); !c.Chase {
			h.t.Fatalf("cancel %+v", c)
		}
		if r := h.awardRecord(acts, 1, "lost"); r.Code != CodeAwardLost {
			h.t.Fatalf("lost %+v", r)
		}
		h.must(acts, ActSendAward, 2)
	}},
	{name: "lost Accept: silence → Cancel + next", rule: "§4 Only unknown_award or no answer fails the award over, with a Cancel", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.ev(EvAwardSent, 1)
		h.bids.next = []Bid{bid(peerB)}
		h.at(StreamTimeout)
		h.timer(TimerAccept, 1)
		h.at(StreamTimeout + 2*time.Second)
		if acts := h.timer(TimerReattach, 1); len(acts) != 0 { // not due yet
			h.t.Fatalf("early: %s", dump(acts))
		}
		h.at(StreamTimeout + 3*time.Second)
		acts := h.timer(TimerReattach, 1)
		h.must(acts, ActSendCancel, 1)
		h.must(acts, ActSendAward, 2)
	}},
	{name: "lost Accept: Query unreachable → Cancel + next", rule: "§4 no answer fails the award over, with a Cancel", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.bids.next = []Bid{bid(peerB)}
		h.ev(EvAwardSendFailed, 1, func(e *ReqEvent) { e.Dialed = true })
		acts := h.ev(EvQueryFailed, 1, func(e *ReqEvent) { e.Reason = "dial backoff" })
		h.must(acts, ActSendCancel, 1)
		h.must(acts, ActSendAward, 2)
	}},
	{name: "award not delivered: lost, no Cancel", rule: "§4 Failover: an award that was never written (dial failed) has nothing to cancel", run: func(h *harness) {
		h.start()
		h.window(bid(peerA))
		h.bids.next = []Bid{bid(peerB)}
		acts := h.ev(EvAwardSendFailed, 1, func(e *ReqEvent) { e.Reason = "no addresses" })
		h.none(acts, ActSendCancel)
		h.awardRecord(acts, 1, "lost")
		h.must(acts, ActSendAward, 2)
	}},
	{name: "broken stream, connection left: Query to the heartbeat deadline", rule: "§4 while another connection to the executor remains, the Query may take until the heartbeat deadline", run: func(h *harness) {
		h.running(peerA)
		h.at(500 * time.Millisecond)
		acts := h.ev(EvStreamBroken, 1, func(e *ReqEvent) { e.ConnectionLeft = true })
		h.none(acts, ActSendCancel)
		if q := h.must(acts, ActSendQuery, 1); !q.At.Equal(t0.Add(1500 * time.Millisecond)) { // max(hb deadline 3s, now+1s)
			if !q.At.Equal(t0.Add(3 * time.Second)) {
				h.t.Fatalf("query bound %s", q.At.Sub(t0))
			}
		}
		h.at(time.Second)
		h.ev(EvStatus, 1, func(e *ReqEvent) { e.Phase, e.Seq = PhaseHeartbeat, 1 })
		// A second break of the Query stream is a loss: no second Query.
		h.bids.next = []Bid{bid(peerB)}
		acts = h.ev(EvStreamBroken, 1, func(e *ReqEvent) { e.ConnectionLeft = true })
		h.none(acts, ActSendQuery)
		h.must(acts, ActSendCancel, 1)
		h.must(acts, ActSendAward, 2)
	}},
	{name: "broken stream, no connection left: ReattachTimeout", rule: "§4 when no connection to the executor remains, redial and query for at most ReattachTimeout and fail over right after", run: func(h *harness) {
		h.running(peerA)
		h.bids.next = []Bid{bid(peerB)}
		h.at(500 * time.Millisecond)
		acts := h.ev(EvStreamBroken, 1)
		if q := h.must(acts, ActSendQuery, 1); !q.At.Equal(t0.Add(500*time.Millisecond + ReattachTimeout)) {
			h.t.Fatalf("query bound %s", q.At.Sub(t0))
		}
		h.at(500*time.Millisecond + ReattachTimeout)
		acts = h.timer(TimerReattach, 1)
		h.must(acts, ActSendCancel, 1)
		h.must(acts, ActSendAward, 2)
	}},
	{name: "heartbeats keep the award alive", rule: "§4 presumed dead: no Status for MissedHeartbeats × HeartbeatInterval (Liveness.Dead)", run: func(h *harness) {
		h.running(peerA)
		h.at(2 * time.Second)
		acts := h.ev(EvStatus, 1, func(e *ReqEvent) { e.Phase, e.Seq = PhaseFetching, 1 })
		if r := h.awardRecord(acts, 1, "fetching"); r.Executor != peerA {
			h.t.Fatalf("%+v", r)
		}
		if tm := h.must(acts, ActSetTimer, 1); tm.Timer != TimerHeartbeat || !tm.At.Equal(t0.Add(5*time.Second)) {
			h.t.Fatalf("timer %+v", tm)
		}
		h.at(3 * time.Second)
		if acts := h.timer(TimerHeartbeat, 1); len(acts) != 0 { // the old deadline: stale
			h.t.Fatalf("stale timer: %s", dump(acts))
		}
		h.at(5 * time.Second)
		h.must(h.timer(TimerHeartbeat, 1), ActSendCancel, 1)
	}},
	{name: "run overdue → Cancel + lost run_overdue", rule: "§4 run deadline: accept + timeout + PublishGrace; past it Cancel, award lost (run overdue), fail over", run: func(h *harness) {
		h.running(peerA)
		h.bids.next = []Bid{bid(peerB)}
		deadline := 10*time.Second + 2*time.Minute
		for s := time.Second; s < deadline; s += time.Second { // heartbeats all along
			h.at(s)
			h.ev(EvStatus, 1, func(e *ReqEvent) { e.Phase, e.Seq = PhaseHeartbeat, int64(s/time.Second) })
		}
		h.at(deadline)
		acts := h.timer(TimerRun, 1)
		if c := h.must(acts, ActSendCancel, 1); c.Reason != "the run exceeded its deadline" || !c.Chase {
			h.t.Fatalf("cancel %+v", c)
		}
		if r := h.awardRecord(acts, 1, "lost"); r.Code != CodeRunOverdue || !strings.Contains(r.Message, "run overdue") {
			h.t.Fatalf("lost %+v", r)
		}
		h.must(acts, ActSendAward, 2)
	}},
	{name: "run overdue alone: queue timeout names it", rule: "§4 With no other bid the job re-announces, and fails at its queue timeout", run: func(h *harness) {
		h.running(peerA)
		h.at(10*time.Second + 2*time.Minute)
		acts := h.timer(TimerRun, 1)
		h.must(acts, ActAnnounce)
		h.window()
		h.at(5*time.Minute + time.Second)
		h.finish(h.timer(TimerQueue, 0), JobFailed, CodeNoExecutor)
	}},
	{name: "retryable receipt → next best, no Cancel", rule: "§4 Failover: a receipt with a retryable code (fetch_failed, engine_error, publish_failed)", run: func(h *harness) {
		for _, c := range []Code{CodeFetchFailed, CodeEngineError, CodePublishFailed} {
			h.t.Run(string(c), func(t *testing.T) {
				h := newHarness(t, h.moves)
				h.running(peerA)
				h.bids.next = []Bid{bid(peerB)}
				acts := h.ev(EvReceipt, 1, codeReceipt(1, peerA, c))
				if r := h.awardRecord(acts, 1, "failed"); r.Code != c {
					t.Fatalf("failed %+v", r)
				}
				h.none(acts, ActSendCancel)
				h.none(acts, ActStoreReceipt)
				h.must(acts, ActSendAward, 2)
				if !h.bids.isExcluded(peerA) {
					t.Fatal("not excluded")
				}
			})
		}
	}},
	{name: "non-zero exit → exit_nonzero", rule: "§7 --failed receipt, non-zero exit--> failed", run: func(h *harness) {
		h.running(peerA)
		acts := h.ev(EvReceipt, 1, func(e *ReqEvent) {
			e.Receipt = &ReceiptOutcome{Award: aid(1), Executor: peerA, ExitCode: 3}
		})
		h.finish(acts, JobFailed, CodeExitNonZero)
	}},
	{name: "late receipt: first valid wins, newer award superseded", rule: "§4 Completion: the first valid receipt wins; the newer award is cancelled and recorded cancelled (superseded)", run: func(h *harness) {
		h.running(peerA)
		h.bids.next = []Bid{bid(peerB)}
		h.at(3 * time.Second)
		h.timer(TimerHeartbeat, 1)
		h.ev(EvAccept, 2)
		h.state(JobRunning)
		acts := h.do(ReqEvent{Kind: EvLateReceipt, Receipt: &ReceiptOutcome{Award: aid(1), Executor: peerA, CID: "bafyr"}})
		if r := h.awardRecord(acts, 2, "cancelled"); r.Code != CodeSuperseded {
			h.t.Fatalf("%+v", r)
		}
		h.finish(acts, JobCompleted, "")
		// The newer award's receipt after that is late and settles nothing.
		acts = h.do(ReqEvent{Kind: EvLateReceipt, Receipt: &ReceiptOutcome{Award: aid(2), Executor: peerB, CID: "bafyr2"}})
		if s := h.must(acts, ActStoreReceipt, 2); s.Settles {
			h.t.Fatalf("settled twice: %+v", s)
		}
	}},
	{name: "late receipt of a Cancel's outcome settles nothing", rule: "§4 Completion: a retryable receipt or the outcome of the requester's own Cancel is kept in late_receipts", run: func(h *harness) {
		h.running(peerA)
		h.bids.next = []Bid{bid(peerB)}
		h.at(3 * time.Second)
		h.timer(TimerHeartbeat, 1)
		h.ev(EvAccept, 2)
		for i, c := range []Code{CodeCancelled, CodeFetchFailed} {
			acts := h.do(ReqEvent{Kind: EvLateReceipt, Receipt: &ReceiptOutcome{Award: aid(1 + byte(i)*10), Executor: peerA, Code: c, Error: string(c) + ": x"}})
			if s := h.must(acts, ActStoreReceipt); s.Settles || !s.Late {
				h.t.Fatalf("%s: %+v", c, s)
			}
			h.none(acts, ActFinish)
		}
		h.state(JobRunning)
	}},
	{name: "ops late receipt settles nothing", rule: "§4 Completion (an ops award names its node: nothing superseded it)", opts: []cfgOpt{ops(), count(0)}, run: func(h *harness) {
		h.start()
		h.window(bid(peerA), bid(peerB))
		h.ev(EvAccept, 1)
		h.ev(EvAccept, 2)
		h.at(3 * time.Second)
		acts := h.timer(TimerHeartbeat, 1)
		h.none(acts, ActSendAward)
		acts = h.do(ReqEvent{Kind: EvLateReceipt, Receipt: &ReceiptOutcome{Award: aid(1), Executor: peerA}})
		if s := h.must(acts, ActStoreReceipt); s.Settles {
			h.t.Fatalf("%+v", s)
		}
		h.finish(h.ev(EvReceipt, 2, okReceipt(2, peerB)), JobFailed, CodeAwardLost)
	}},
	{name: "re-announce backoff", rule: "§4 Re-announce: NextAnnounce(attempt) between announcements, 0.5 s doubling to 8 s; a bid ends the wait", run: func(h *harness) {
		h.start()
		var waits []time.Duration
		for i := 0; i < 7; i++ {
			acts := h.window()
			tm := h.must(acts, ActSetTimer)
			waits = append(waits, tm.At.Sub(h.now))
			h.now = tm.At
			h.must(h.timer(TimerBackoff, 0), ActAnnounce)
		}
		want := []time.Duration{NextAnnounce(0), NextAnnounce(1), NextAnnounce(2), NextAnnounce(3), NextAnnounce(4), NextAnnounce(5), NextAnnounce(6)}
		for i := range want {
			if waits[i] != want[i] {
				h.t.Fatalf("waits %v, want %v", waits, want)
			}
		}
		if want[1] != AnnounceBackoffMin || want[6] != AnnounceBackoffMax {
			h.t.Fatalf("backoff %v", want)
		}
		h.window()
		h.bids.picks = [][]Bid{{bid(peerA)}}
		acts := h.do(ReqEvent{Kind: EvBid}) // a late bid may do
		h.must(acts, ActSendAward, 1)
		h.state(JobAwarded)
	}},
	{name: "solicited round empty → open round at once", rule: "§4 Rounds: an empty solicited round is followed at once, without backoff, by an open one", run: func(h *harness) {
		h.start()
		acts := h.do(ReqEvent{Kind: EvWindowClosed, Targeted: true})
		if a := h.must(acts, ActAnnounce); a.Attempt != 2 || a.Solicit {
			h.t.Fatalf("%+v", a)
		}
		h.none(acts, ActSetTimer)
		h.state(JobBidding)
	}},
	{name: "bad message after Accept → Cancel + lost", rule: "§4 Failover: whatever the reason, the superseded award is cancelled", run: func(h *harness) {
		h.running(peerA)
		acts := h.ev(EvBadMessage, 1, func(e *ReqEvent) { e.Reason = "message signed by exec-c, not the executor" })
		h.must(acts, ActSendCancel, 1)
		h.awardRecord(acts, 1, "lost")
	}},
	{name: "restart re-attaches by Query", rule: "§4 A requester that restarts asks a resumed award once (at least 2 × StreamTimeout) even past its deadline; §7 running → running", opts: []cfgOpt{fromState(JobRunning)}, run: func(h *harness) {
		h.at(time.Hour) // long past the award's run deadline
		acts := h.do(ReqEvent{Kind: EvStart, Resume: &ReqResume{Awards: []ResumedAward{{Award: aid(9), Executor: peerA, Accepted: t0}}}})
		h.state(JobRunning)
		if q := h.must(acts, ActSendQuery, 9); !q.At.Equal(h.now.Add(2 * StreamTimeout)) {
			h.t.Fatalf("query %+v", q)
		}
		h.none(acts, ActAnnounce)
		if !h.bids.isExcluded(peerA) {
			h.t.Fatal("not excluded")
		}
		h.finish(h.ev(EvReceipt, 9, okReceipt(9, peerA)), JobCompleted, "")
	}},
	{name: "restart: re-attach dial fails then succeeds → no failover", rule: "§4 A requester that restarts: a failed dial or a Query stream broken before any answer is retried (ReattachRetry, early on a connection) until the Query's deadline; only then fail over", opts: []cfgOpt{fromState(JobRunning)}, run: func(h *harness) {
		resumed := func(h *harness) {
			h.do(ReqEvent{Kind: EvStart, Resume: &ReqResume{Awards: []ResumedAward{{Award: aid(9), Executor: peerA, Accepted: t0}}}})
		}
		resumed(h)
		h.bids.next = []Bid{bid(peerB)} // a failover would award it
		bound := t0.Add(2 * StreamTimeout)
		var waits []time.Duration
		for i := 0; i < 5; i++ {
			acts := h.ev(EvQueryFailed, 9, func(e *ReqEvent) { e.Reason = "failed to dial: no addresses" })
			h.none(acts, ActSendCancel)
			h.none(acts, ActSendAward)
			h.none(acts, ActRecordAward)
			tm := h.must(acts, ActSetTimer, 9)
			if tm.Timer != TimerRequery {
				h.t.Fatalf("timer %+v", tm)
			}
			waits = append(waits, tm.At.Sub(h.now))
			h.now = tm.At
			if q := h.must(h.timer(TimerRequery, 9), ActSendQuery, 9); !q.At.Equal(bound) {
				h.t.Fatalf("retry bound %s, want the first Query's %s", q.At.Sub(t0), bound.Sub(t0))
			}
		}
		want := []time.Duration{ReattachRetry(0), ReattachRetry(1), ReattachRetry(2), ReattachRetry(3), ReattachRetry(4)}
		for i := range want {
			if waits[i] != want[i] {
				h.t.Fatalf("waits %v, want %v", waits, want)
			}
		}
		if want[0] != ReattachRetryMin || want[4] != ReattachRetryMax {
			h.t.Fatalf("backoff %v", want)
		}
		// A Query stream that breaks before any answer is retried too, and
		// a connection to the executor may fire the retry early: a second
		// firing of the same retry is stale.
		acts := h.ev(EvStreamBroken, 9, func(e *ReqEvent) { e.Reason = "stream reset" })
		h.none(acts, ActSendCancel)
		h.must(acts, ActSetTimer, 9)
		h.at(h.now.Sub(t0) + 10*time.Millisecond)
		h.must(h.timer(TimerRequery, 9), ActSendQuery, 9)
		if acts := h.timer(TimerRequery, 9); len(acts) != 0 {
			h.t.Fatalf("stale retry: %s", dump(acts))
		}
		// The executor answers: re-attached, no failover, one run.
		h.at(h.now.Sub(t0) + 50*time.Millisecond)
		h.ev(EvStatus, 9, func(e *ReqEvent) { e.Phase, e.Seq = PhaseRunning, 7 })
		h.state(JobRunning)
		h.at(2*StreamTimeout - time.Second)
		h.ev(EvStatus, 9, func(e *ReqEvent) { e.Phase, e.Seq = PhaseHeartbeat, 8 })
		h.at(2 * StreamTimeout)
		if acts := h.timer(TimerReattach, 9); len(acts) != 0 {
			h.t.Fatalf("answered Query still timed out: %s", dump(acts))
		}
		h.finish(h.ev(EvReceipt, 9, okReceipt(9, peerA)), JobCompleted, "")
		if h.bids.isExcluded(peerB) || len(h.bids.next) != 1 {
			h.t.Fatal("failed over")
		}
	}},
	{name: "restart: re-attach unanswered to its deadline → Cancel + next", rule: "§4 A requester that restarts: only past the Query's deadline does a resumed award fail over", opts: []cfgOpt{fromState(JobRunning)}, run: func(h *harness) {
		h.do(ReqEvent{Kind: EvStart, Resume: &ReqResume{Awards: []ResumedAward{{Award: aid(9), Executor: peerA, Accepted: t0}}}})
		h.bids.next = []Bid{bid(peerB)}
		h.at(9 * time.Second)
		h.must(h.ev(EvQueryFailed, 9, func(e *ReqEvent) { e.Reason = "failed to dial: connection refused" }), ActSetTimer, 9)
		h.at(2 * StreamTimeout)
		acts := h.timer(TimerReattach, 9)
		h.must(acts, ActSendCancel, 9)
		if r := h.awardRecord(acts, 9, "lost"); !strings.Contains(r.Message, "connection refused") {
			h.t.Fatalf("lost %+v", r)
		}
		h.must(acts, ActSendAward, 1)
		// A failure at its deadline fails over at once too.
		h2 := newHarness(h.t, h.moves, fromState(JobRunning))
		h2.do(ReqEvent{Kind: EvStart, Resume: &ReqResume{Awards: []ResumedAward{{Award: aid(9), Executor: peerA, Accepted: t0}}}})
		h2.bids.next = []Bid{bid(peerB)}
		h2.at(2 * StreamTimeout)
		acts = h2.ev(EvQueryFailed, 9, func(e *ReqEvent) { e.Reason = "failed to dial" })
		h2.must(acts, ActSendCancel, 9)
		h2.must(acts, ActSendAward, 1)
	}},
	{name: "broken stream, no connection left: failed redial fails over at once", rule: "§4 failover by event: a Query after a broken stream with no connection left is not retried", run: func(h *harness) {
		h.running(peerA)
		h.bids.next = []Bid{bid(peerB)}
		h.at(500 * time.Millisecond)
		h.must(h.ev(EvStreamBroken, 1), ActSendQuery, 1)
		acts := h.ev(EvQueryFailed, 1, func(e *ReqEvent) { e.Reason = "failed to dial: connection refused" })
		h.none(acts, ActSetTimer, 1)
		h.must(acts, ActSendCancel, 1)
		h.must(acts, ActSendAward, 2)
	}},
	{name: "restart without awards re-announces", rule: "§4 restart: a job in flight without an accepted award announces again", opts: []cfgOpt{fromState(JobAwarded)}, run: func(h *harness) {
		acts := h.do(ReqEvent{Kind: EvStart, Resume: &ReqResume{}})
		h.must(acts, ActAnnounce)
		h.state(JobBidding)
	}},
	{name: "restart: receipts so far count", rule: "§4 Completion: a batch job completes when count awards have succeeded receipts", opts: []cfgOpt{count(2), fromState(JobRunning)}, run: func(h *harness) {
		acts := h.do(ReqEvent{Kind: EvStart, Resume: &ReqResume{Receipts: []ReceiptOutcome{{Award: aid(7), Executor: peerC}}}})
		h.must(acts, ActAnnounce)
		if h.m.Need() != 1 {
			h.t.Fatalf("need %d", h.m.Need())
		}
		acts = h.window(bid(peerA), bid(peerB))
		if n := len(find(acts, ActSendAward)); n != 1 {
			h.t.Fatalf("%d awards for 1 receipt needed", n)
		}
	}},
	{name: "count 2: a slot without bids re-announces for the rest", rule: "§7 For count > 1 the job is running while any award runs and completed when count receipts succeeded", opts: []cfgOpt{count(2)}, run: func(h *harness) {
		h.start()
		h.window(bid(peerA), bid(peerB))
		h.ev(EvAccept, 1)
		acts := h.ev(EvDecline, 2, func(e *ReqEvent) { e.Code = CodeNoCapacity })
		h.none(acts, ActAnnounce) // slot 1 still runs: the round is not over
		h.state(JobRunning)
		acts = h.ev(EvReceipt, 1, okReceipt(1, peerA))
		h.must(acts, ActAnnounce)
		acts = h.window(bid(peerC))
		h.must(acts, ActSendAward, 3)
		h.ev(EvAccept, 3)
		h.finish(h.ev(EvReceipt, 3, okReceipt(3, peerC)), JobCompleted, "")
	}},
	{name: "illegal transition is an error", rule: "§7 Allowed transitions: anything else is refused (JobState.MoveTo)", opts: []cfgOpt{fromState(JobPending)}, run: func(h *harness) {
		_, err := h.m.Handle(ReqEvent{Kind: EvStart, Now: t0, Resume: &ReqResume{Awards: []ResumedAward{{Award: aid(9), Executor: peerA}}}})
		if !errors.Is(err, ErrBadTransition) {
			h.t.Fatalf("pending → running: %v", err)
		}
	}},
}

func TestRequesterMachine(t *testing.T) {
	moves := map[[2]JobState]bool{}
	for _, row := range reqRows {
		t.Run(row.name, func(t *testing.T) {
			t.Logf("rule: %s", row.rule)
			row.run(newHarness(t, moves, row.opts...))
		})
	}
	// Every (from, to) pair of JobState is a row's transition, or refused.
	states := []JobState{JobPending, JobBidding, JobAwarded, JobRunning, JobCompleted, JobFailed, JobCancelled}
	for _, from := range states {
		for _, to := range states {
			allowed := from.CanMoveTo(to)
			switch {
			case allowed && !moves[[2]JobState{from, to}]:
				t.Errorf("%s -> %s is allowed but no row makes the machine take it", from, to)
			case !allowed:
				if _, err := from.MoveTo(to); !errors.Is(err, ErrBadTransition) {
					t.Errorf("%s -> %s: refused by CanMoveTo, MoveTo says %v", from, to, err)
				}
			}
		}
	}
}

func TestResubmitState(t *testing.T) {
	for _, s := range []JobState{JobFailed, JobCancelled} {
		if got, err := ResubmitState(s); err != nil || got != JobPending {
			t.Errorf("resubmit %s: %s %v", s, got, err)
		}
	}
	for _, s := range []JobState{JobPending, JobBidding, JobAwarded, JobRunning, JobCompleted} {
		if _, err := ResubmitState(s); !errors.Is(err, ErrBadTransition) {
			t.Errorf("resubmit %s allowed", s)
		}
	}
}
