package bidding

import (
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Rows of the verification transitions of docs/protocol.md §10, on the
// harness of reqmachine_test.go.

var peerD, peerE = peer.ID("exec-d"), peer.ID("exec-e")

func verify(replicas, quorum int) cfgOpt {
	return func(c *ReqConfig) {
		c.Verify = &jobspec.Verify{Replicas: replicas, Quorum: quorum, Distinct: jobspec.DistinctPeer}
		c.Count = replicas
	}
}

// result is a receipt of award by p whose outputs are out.
func result(award byte, p peer.ID, out string) func(*ReqEvent) {
	return func(e *ReqEvent) {
		e.Receipt = &ReceiptOutcome{Award: aid(award), Executor: p, CID: "bafyreceipt" + string(rune('0'+award)), Outputs: out, Stdout: "bafystdout", Stderr: "bafystderr"}
	}
}

// replicas starts a verified job and brings its first round to running
// on awards 1.. to peers.
func (h *harness) replicas(peers ...peer.ID) {
	h.t.Helper()
	h.start()
	var picks []Bid
	for _, p := range peers {
		picks = append(picks, bid(p))
	}
	acts := h.window(picks...)
	for i := range peers {
		h.must(acts, ActSendAward, byte(i+1))
		h.ev(EvAwardSent, byte(i+1))
		h.ev(EvAccept, byte(i+1))
	}
}

func (h *harness) verdict(acts []ReqAction, verified bool, agree ...peer.ID) *Verdict {
	h.t.Helper()
	v := h.must(acts, ActVerdict).Verdict
	if v == nil || v.Verified != verified {
		h.t.Fatalf("verdict %+v, want verified %v", v, verified)
	}
	got := execs(v.Agreeing())
	if len(got) != len(agree) {
		h.t.Fatalf("agreeing %v, want %v", got, agree)
	}
	for i := range agree {
		if got[i] != agree[i] {
			h.t.Fatalf("agreeing %v, want %v", got, agree)
		}
	}
	return v
}

var verifyRows = []reqRow{
	{name: "verify: replicas agree → completed, verified 3/3", rule: "§10 Quorum: the job settles once the quorum agrees and no replica runs", opts: []cfgOpt{verify(3, 2)}, run: func(h *harness) {
		h.replicas(peerA, peerB, peerC)
		h.none(h.ev(EvReceipt, 1, result(1, peerA, "X")), ActFinish)
		acts := h.ev(EvReceipt, 2, result(2, peerB, "X"))
		h.none(acts, ActFinish) // the quorum is there, the third replica is heard out
		h.none(acts, ActSendCancel)
		acts = h.ev(EvReceipt, 3, result(3, peerC, "X"))
		h.verdict(acts, true, peerA, peerB, peerC)
		if f := h.finish(acts, JobCompleted, ""); !strings.Contains(f.Message, "verified 3/3 by") {
			h.t.Fatalf("finish %q", f.Message)
		}
		for _, p := range []peer.ID{peerA, peerB, peerC} {
			if !h.bids.isExcluded(p) {
				h.t.Fatalf("%s may be awarded a second replica", p)
			}
		}
	}},
	{name: "verify: a liar is outvoted", rule: "§10 Quorum: a disagreeing receipt is outvoted (award outvoted, code unverified)", opts: []cfgOpt{verify(3, 2)}, run: func(h *harness) {
		h.replicas(peerA, peerB, peerC)
		h.ev(EvReceipt, 1, result(1, peerA, "X"))
		h.ev(EvReceipt, 2, result(2, peerB, "LIE"))
		acts := h.ev(EvReceipt, 3, result(3, peerC, "X"))
		v := h.verdict(acts, true, peerA, peerC)
		if d := v.Disagreeing(); len(d) != 1 || d[0].Executor != peerB {
			h.t.Fatalf("disagreeing %+v", d)
		}
		if a := h.awardRecord(acts, 2, "outvoted"); a.Code != CodeUnverified {
			h.t.Fatalf("outvoted award %+v", a)
		}
		if f := h.finish(acts, JobCompleted, ""); !strings.Contains(f.Message, "verified 2/3") {
			h.t.Fatalf("finish %q", f.Message)
		}
	}},
	{name: "verify: disagreement → one more replica, then verified", rule: "§10 Extra replicas: a quorum out of reach brings more replicas", opts: []cfgOpt{verify(3, 2)}, run: func(h *harness) {
		h.replicas(peerA, peerB, peerC)
		h.ev(EvReceipt, 1, result(1, peerA, "X"))
		h.ev(EvReceipt, 2, result(2, peerB, "LIE1"))
		acts := h.ev(EvReceipt, 3, result(3, peerC, "LIE2"))
		if e := h.must(acts, ActRecordEvent); !strings.Contains(e.Message, "awarding 1 more replica") {
			h.t.Fatalf("event %q", e.Message)
		}
		h.none(acts, ActFinish)
		h.must(acts, ActAnnounce)
		acts = h.window(bid(peerD), bid(peerE))
		h.must(acts, ActSendAward, 4)
		h.none(acts, ActSendAward, 5) // one more, not two
		h.ev(EvAccept, 4)
		acts = h.ev(EvReceipt, 4, result(4, peerD, "X"))
		h.verdict(acts, true, peerA, peerD)
		if f := h.finish(acts, JobCompleted, ""); !strings.Contains(f.Message, "verified 2/4") {
			h.t.Fatalf("finish %q", f.Message)
		}
	}},
	{name: "verify: no quorum within replicas + 2 → failed unverified", rule: "§10 Extra replicas: at most verify.replicas + 2 in all, then failed unverified", opts: []cfgOpt{verify(3, 2)}, run: func(h *harness) {
		h.replicas(peerA, peerB, peerC)
		h.ev(EvReceipt, 1, result(1, peerA, "X"))
		h.ev(EvReceipt, 2, result(2, peerB, "Y"))
		h.ev(EvReceipt, 3, result(3, peerC, "Z"))
		h.window(bid(peerD))
		h.ev(EvAccept, 4)
		acts := h.ev(EvReceipt, 4, result(4, peerD, "W"))
		h.none(acts, ActFinish)
		h.window(bid(peerE))
		h.ev(EvAccept, 5)
		acts = h.ev(EvReceipt, 5, result(5, peerE, "V"))
		v := h.verdict(acts, false)
		if len(v.Groups) != 5 || len(v.Disagreeing()) != 5 {
			h.t.Fatalf("groups %+v", v.Groups)
		}
		f := h.finish(acts, JobFailed, CodeUnverified)
		for _, want := range []string{"no 2 of 5 receipt(s) agree", "all 5 replicas", "result A (1): outputs X", "result E (1): outputs V"} {
			if !strings.Contains(f.Message, want) {
				h.t.Fatalf("finish %q lacks %q", f.Message, want)
			}
		}
	}},
	{name: "verify: quorum out of reach while a replica runs", rule: "§10 Extra replicas: the running replicas count toward the quorum", opts: []cfgOpt{verify(3, 3)}, run: func(h *harness) {
		h.replicas(peerA, peerB, peerC)
		h.ev(EvReceipt, 1, result(1, peerA, "X"))
		acts := h.ev(EvReceipt, 2, result(2, peerB, "Y"))
		h.must(acts, ActRecordEvent) // 1 + 1 running < 3: one more is due
		h.none(acts, ActAnnounce)    // after the running replica
		acts = h.ev(EvReceipt, 3, result(3, peerC, "X"))
		h.must(acts, ActAnnounce)
		if h.m.Need() != 1 {
			h.t.Fatalf("need %d, want 1", h.m.Need())
		}
		h.window(bid(peerD))
		h.ev(EvAccept, 4)
		acts = h.ev(EvReceipt, 4, result(4, peerD, "X"))
		h.verdict(acts, true, peerA, peerC, peerD)
		h.finish(acts, JobCompleted, "")
	}},
	{name: "verify: quorum unreachable at once → failed unverified, running replicas cancelled", rule: "§10 Extra replicas: when even every award left cannot make the quorum", opts: []cfgOpt{verify(3, 3)}, run: func(h *harness) {
		// 3 replicas, quorum 3, at most 5 awards.
		h.replicas(peerA, peerB, peerC)
		h.ev(EvReceipt, 1, result(1, peerA, "X"))
		h.ev(EvReceipt, 2, result(2, peerB, "Y"))
		h.ev(EvReceipt, 3, result(3, peerC, "Z"))
		acts := h.window(bid(peerD), bid(peerE))
		h.must(acts, ActSendAward, 4)
		h.must(acts, ActSendAward, 5)
		h.ev(EvAccept, 4)
		h.ev(EvAccept, 5)
		// W: 4 results of 1, one replica running, no award left: 1+1 < 3.
		acts = h.ev(EvReceipt, 4, result(4, peerD, "W"))
		h.verdict(acts, false)
		h.finish(acts, JobFailed, CodeUnverified)
		if c := h.must(acts, ActSendCancel, 5); c.Executor != peerE {
			h.t.Fatalf("cancel %+v", c)
		}
		h.awardRecord(acts, 5, "cancelled")
	}},
	{name: "verify: queue timeout with disagreeing receipts → unverified", rule: "§10 Extra replicas: none found by the queue timeout fails the job unverified", opts: []cfgOpt{verify(3, 2)}, run: func(h *harness) {
		h.replicas(peerA, peerB, peerC)
		h.ev(EvReceipt, 1, result(1, peerA, "X"))
		h.ev(EvReceipt, 2, result(2, peerB, "Y"))
		h.ev(EvReceipt, 3, result(3, peerC, "Z"))
		h.window() // no bidder for the extra replica: backoff
		h.at(6 * time.Minute)
		acts := h.timer(TimerQueue, 0)
		h.verdict(acts, false)
		if f := h.finish(acts, JobFailed, CodeUnverified); !strings.Contains(f.Message, "queue timeout") {
			h.t.Fatalf("finish %q", f.Message)
		}
	}},
	{name: "verify: a lost replica fails over to another executor", rule: "§10 Replicas fail over like any award (§4 Failover)", opts: []cfgOpt{verify(2, 2)}, run: func(h *harness) {
		h.replicas(peerA, peerB)
		h.bids.next = []Bid{bid(peerC)}
		acts := h.ev(EvDecline, 2, func(e *ReqEvent) { e.Code = CodeUnknownAward })
		if a := h.must(acts, ActSendAward, 3); a.Executor != peerC {
			h.t.Fatalf("failover award %+v", a)
		}
		h.ev(EvAccept, 3)
		h.none(h.ev(EvReceipt, 1, result(1, peerA, "X")), ActFinish)
		acts = h.ev(EvReceipt, 3, result(3, peerC, "X"))
		h.verdict(acts, true, peerA, peerC)
		h.finish(acts, JobCompleted, "")
	}},
	{name: "verify: a verified set of the quorum is reused", rule: "§10 Reuse: a verified set with at least the spec's quorum completes the job without execution", opts: []cfgOpt{verify(3, 2), reuse()}, run: func(h *harness) {
		h.must(h.start(), ActLookup)
		set := []ReceiptOutcome{*setReceipt(peerA, "X"), *setReceipt(peerB, "X")}
		acts := h.do(ReqEvent{Kind: EvMemo, Memo: &MemoHit{Receipt: set[0], Set: set, Finished: t0.Add(-time.Hour)}})
		h.none(acts, ActAnnounce)
		if v := h.verdict(acts, true, peerA, peerB); !v.Reused {
			h.t.Fatalf("verdict %+v", v)
		}
		if n := len(find(acts, ActStoreReceipt)); n != 2 {
			h.t.Fatalf("%d receipts stored", n)
		}
		if f := h.finish(acts, JobCompleted, ""); !strings.Contains(f.Message, "reused a verified set of 2 receipts (quorum 2)") {
			h.t.Fatalf("finish %q", f.Message)
		}
	}},
	{name: "verify: a set below the quorum, or one receipt, is not reused", rule: "§10 Reuse: a verified set below the new spec's quorum, or one executor's receipt, runs the job", opts: []cfgOpt{verify(3, 3), reuse()}, run: func(h *harness) {
		h.start()
		set := []ReceiptOutcome{*setReceipt(peerA, "X"), *setReceipt(peerB, "X")}
		acts := h.do(ReqEvent{Kind: EvMemo, Memo: &MemoHit{Receipt: set[0], Set: set}})
		h.must(acts, ActAnnounce)
		if e := h.must(acts, ActRecordEvent); !strings.Contains(e.Message, "below the quorum 3") {
			h.t.Fatalf("event %q", e.Message)
		}
		h2 := newHarness(h.t, map[[2]JobState]bool{}, verify(3, 2), reuse())
		h2.start()
		acts = h2.do(ReqEvent{Kind: EvMemo, Memo: &MemoHit{Receipt: set[0]}})
		h2.must(acts, ActAnnounce)
		if e := h2.must(acts, ActRecordEvent); !strings.Contains(e.Message, "not a verified set") {
			h.t.Fatalf("event %q", e.Message)
		}
	}},
	{name: "verify: a disagreeing set is not reused", rule: "§10 Reuse: every receipt of the set agrees", opts: []cfgOpt{verify(3, 2), reuse()}, run: func(h *harness) {
		h.start()
		set := []ReceiptOutcome{*setReceipt(peerA, "X"), *setReceipt(peerB, "Y")}
		acts := h.do(ReqEvent{Kind: EvMemo, Memo: &MemoHit{Receipt: set[0], Set: set}})
		h.must(acts, ActAnnounce)
		h.none(acts, ActFinish)
	}},
}

func setReceipt(p peer.ID, out string) *ReceiptOutcome {
	e := &ReqEvent{}
	result(9, p, out)(e)
	return e.Receipt
}

func TestRequesterMachineVerify(t *testing.T) {
	moves := map[[2]JobState]bool{}
	for _, row := range verifyRows {
		t.Run(row.name, func(t *testing.T) {
			t.Logf("rule: %s", row.rule)
			row.run(newHarness(t, moves, row.opts...))
		})
	}
}

// TestGroupReceipts: receipts agree on outputs, stdout, stderr and exit
// code; the largest group comes first, ties by first arrival.
func TestGroupReceipts(t *testing.T) {
	r := func(p peer.ID, out, stdout string, exit int) ReceiptOutcome {
		return ReceiptOutcome{Executor: p, Outputs: out, Stdout: stdout, Stderr: "e", ExitCode: exit}
	}
	g := GroupReceipts([]ReceiptOutcome{r(peerA, "Y", "s", 0), r(peerB, "X", "s", 0), r(peerC, "X", "s", 0), r(peerD, "X", "t", 0), r(peerE, "X", "s", 1)})
	if len(g) != 4 || len(g[0]) != 2 || g[0][0].Executor != peerB || g[1][0].Executor != peerA || g[2][0].Executor != peerD {
		t.Fatalf("groups %+v", g)
	}
	if Agree(r(peerA, "X", "s", 0), r(peerB, "X", "s", 1)) {
		t.Fatal("different exit codes agree")
	}
}
