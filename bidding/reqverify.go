package bidding

import (
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Verification (docs/protocol.md §10): a job with spec.verify is a batch
// job awarded to verify.replicas distinct executors at once, each award a
// replica; its receipts agree when their outputs, stdout and stderr CIDs
// and exit code (and error code) are equal. Quorum agreeing receipts
// settle the job; a disagreement that leaves the quorum out of reach of
// the replicas still running brings more replicas, up to
// verify.replicas + jobspec.ExtraReplicas in all; past that (or past the
// queue timeout) the job fails with CodeUnverified. This file is part of
// the RequesterMachine: pure, no I/O, no clock.

// Verdict is how a verified job's receipts were judged.
type Verdict struct {
	Verified bool
	Replicas int // verify.replicas
	Quorum   int
	// Groups are the job's receipts grouped by result, the largest first
	// (ties: the group whose first receipt came first); when Verified,
	// Groups[0] is the agreeing set.
	Groups [][]ReceiptOutcome
	// Reused: the agreeing set is a verified set the network held (no
	// replica ran; nothing counts in reputation).
	Reused bool
}

// Agreeing is the agreeing set of a verified job (nil when unverified).
func (v *Verdict) Agreeing() []ReceiptOutcome {
	if !v.Verified || len(v.Groups) == 0 {
		return nil
	}
	return v.Groups[0]
}

// Disagreeing are the receipts outside the agreeing set: of a verified
// job, those the quorum outvoted; of an unverified one, every receipt.
func (v *Verdict) Disagreeing() []ReceiptOutcome {
	var out []ReceiptOutcome
	for i, g := range v.Groups {
		if v.Verified && i == 0 {
			continue
		}
		out = append(out, g...)
	}
	return out
}

// Agree reports whether two receipts give the same result.
func Agree(a, b ReceiptOutcome) bool { return resultKey(a) == resultKey(b) }

func resultKey(r ReceiptOutcome) string {
	return fmt.Sprintf("%s|%s|%s|%d|%s", r.Outputs, r.Stdout, r.Stderr, r.ExitCode, r.Code)
}

// GroupReceipts groups receipts by result (Agree), the largest group
// first; groups of one size keep the order of their first receipt.
func GroupReceipts(rs []ReceiptOutcome) [][]ReceiptOutcome {
	var groups [][]ReceiptOutcome
	idx := map[string]int{}
	for _, r := range rs {
		k := resultKey(r)
		i, ok := idx[k]
		if !ok {
			i = len(groups)
			idx[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	// Stable: a larger group moves before smaller ones only.
	for i := 1; i < len(groups); i++ {
		for j := i; j > 0 && len(groups[j]) > len(groups[j-1]); j-- {
			groups[j], groups[j-1] = groups[j-1], groups[j]
		}
	}
	return groups
}

func (m *RequesterMachine) bestGroup() int {
	g := GroupReceipts(m.receipts)
	if len(g) == 0 {
		return 0
	}
	return len(g[0])
}

// verifyStartNeed: the receipts a verified job needs at its start (or
// restart): its replicas, or, when the receipts it holds disagree, what
// the quorum still lacks, within the replicas it may award in all.
func (m *RequesterMachine) verifyStartNeed() int {
	v := m.cfg.Verify
	n := len(m.receipts)
	need := max(v.Replicas-n, 0)
	if best := m.bestGroup(); best < v.Quorum {
		need = max(need, min(v.Quorum-best, v.MaxAwards()-n))
	} else {
		need = 0
	}
	return need
}

// outstanding counts the replicas still running (live slots of awards in
// flight).
func (m *RequesterMachine) outstanding() int {
	n := 0
	for _, s := range m.slots {
		if s.live && !s.settled && s.cur != nil && s.cur.phase != phEnded {
			n++
		}
	}
	return n
}

// replicaEnded: a replica's final receipt was stored (or refused as a
// late one).
func (m *RequesterMachine) replicaEnded(now time.Time, a *reqAward) {
	m.cfg.Bids.Exclude(a.exec) // never a second replica of one job
	a.slot.live = false
	m.verifyCheck(now)
}

// verifyCheck judges a verified job after one of its replicas ended. The
// job settles once the quorum agrees and no replica still runs (each one
// that runs is heard out: its agreement or disagreement is its
// executor's reputation); a quorum out of reach of the running replicas
// brings more, or fails the job when no more may be awarded.
func (m *RequesterMachine) verifyCheck(now time.Time) {
	v := m.cfg.Verify
	groups := GroupReceipts(m.receipts)
	best := 0
	if len(groups) > 0 {
		best = len(groups[0])
	}
	out := m.outstanding()
	if best >= v.Quorum {
		m.need = out
		if out == 0 {
			m.verdict(true, groups, "")
		}
		return
	}
	missing := v.Quorum - best - out
	if missing <= 0 {
		m.need = out // the running replicas may still make the quorum
		return
	}
	room := v.MaxAwards() - len(m.receipts) - out
	if missing > room {
		m.cancelLive("the job cannot reach its quorum")
		m.verdict(false, groups, fmt.Sprintf("all %d replicas it may award are spent", v.MaxAwards()))
		return
	}
	m.need = out + missing
	m.record("verify", "", "%d receipt(s) give %d different results, the most agreeing %d of quorum %d: awarding %d more replica(s) (%d awarded of at most %d)",
		len(m.receipts), len(groups), best, v.Quorum, missing, len(m.receipts)+out, v.MaxAwards())
	if !m.anyLive() {
		m.roundOver(now)
	}
}

// verifyFinal judges the receipts the job holds when it can take no more
// (why says what ended it).
func (m *RequesterMachine) verifyFinal(why string) {
	groups := GroupReceipts(m.receipts)
	if len(groups) > 0 && len(groups[0]) >= m.cfg.Verify.Quorum {
		m.verdict(true, groups, "")
		return
	}
	if why == "" {
		why = "no replica left to award"
	}
	m.verdict(false, groups, why)
}

// cancelLive cancels every replica still running: the verdict needs none.
func (m *RequesterMachine) cancelLive(why string) {
	for _, s := range m.slots {
		a := s.cur
		if !s.live || a == nil || a.phase == phEnded {
			s.live = false
			continue
		}
		a.phase = phEnded
		m.emit(ReqAction{Kind: ActRecordAward, Award: a.id, Executor: a.exec, AwardState: "cancelled", Code: CodeSuperseded, Message: why})
		m.emit(ReqAction{Kind: ActSendCancel, Award: a.id, Executor: a.exec, Reason: "cancelled by the requester: " + why})
		m.emit(ReqAction{Kind: ActStopAward, Award: a.id, Executor: a.exec})
		s.live = false
	}
}

// verdict ends a verified job: completed (or failed with the agreed
// failure) when verified, else failed with CodeUnverified and the
// results side by side.
func (m *RequesterMachine) verdict(ok bool, groups [][]ReceiptOutcome, why string) {
	v := m.cfg.Verify
	vd := &Verdict{Verified: ok, Replicas: v.Replicas, Quorum: v.Quorum, Groups: groups}
	m.emit(ReqAction{Kind: ActVerdict, Verdict: vd})
	if !ok {
		m.end(JobFailed, CodeUnverified, fmt.Sprintf("unverified: no %d of %d receipt(s) agree (%s): %s",
			v.Quorum, len(m.receipts), why, sideBySide(groups)), false)
		return
	}
	agree := groups[0]
	for _, r := range vd.Disagreeing() {
		m.emit(ReqAction{Kind: ActRecordAward, Award: r.Award, Executor: r.Executor, AwardState: "outvoted", Code: CodeUnverified,
			Message: fmt.Sprintf("its receipt %s disagrees with the %d agreeing receipt(s)", ShortText(r.CID), len(agree))})
	}
	text := VerifiedText(len(agree), len(m.receipts), execs(agree))
	r := agree[0]
	switch {
	case r.Error != "":
		c := r.Code
		if c == "" {
			c = codeOf(r.Error)
		}
		m.end(JobFailed, c, fmt.Sprintf("%s on every agreeing replica (%s)", r.Error, text), false)
	case r.ExitCode != 0:
		m.end(JobFailed, CodeExitNonZero, fmt.Sprintf("exit code %d on every agreeing replica (%s)", r.ExitCode, text), false)
	default:
		m.end(JobCompleted, "", "completed and "+text, false)
	}
}

// VerifiedText is what a verified job's record says: "verified 2/3 by
// <executors>".
func VerifiedText(agree, of int, by []peer.ID) string {
	names := make([]string, len(by))
	for i, p := range by {
		names[i] = ShortPeer(p)
	}
	return fmt.Sprintf("verified %d/%d by %s", agree, of, strings.Join(names, ", "))
}

func execs(rs []ReceiptOutcome) []peer.ID {
	out := make([]peer.ID, len(rs))
	for i, r := range rs {
		out[i] = r.Executor
	}
	return out
}

// sideBySide lists the results of groups, one per line of the message.
func sideBySide(groups [][]ReceiptOutcome) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		r := g[0]
		names := make([]string, len(g))
		for k, x := range g {
			names[k] = ShortPeer(x.Executor)
		}
		res := fmt.Sprintf("outputs %s, stdout %s, stderr %s, exit code %d", orNone(r.Outputs), orNone(r.Stdout), orNone(r.Stderr), r.ExitCode)
		if r.Error != "" {
			res += ", " + r.Error
		}
		parts[i] = fmt.Sprintf("result %c (%d): %s by %s", 'A'+i, len(g), res, strings.Join(names, ", "))
	}
	return strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return ShortText(s)
}

// memoSet: §10 "Reuse of a verified set": a verified job reuses only a
// verified set of at least its quorum of agreeing receipts of distinct
// executors that succeeded; anything else goes on to the first round.
func (m *RequesterMachine) memoSet(ev ReqEvent) {
	v := m.cfg.Verify
	h := ev.Memo
	why := ev.Reason
	switch {
	case h == nil && why == "":
		why = "none found"
	case h == nil:
	case len(h.Set) == 0:
		why = "a receipt of one executor is not a verified set"
	case len(h.Set) < v.Quorum:
		why = fmt.Sprintf("a verified set of %d receipt(s), below the quorum %d of this job", len(h.Set), v.Quorum)
	default:
		seen := map[peer.ID]bool{}
		for _, r := range h.Set {
			switch {
			case r.Code != "" || r.Error != "" || r.ExitCode != 0:
				why = fmt.Sprintf("receipt %s of %s did not succeed", ShortText(r.CID), ShortPeer(r.Executor))
			case !Agree(r, h.Set[0]):
				why = "the verified set's receipts disagree"
			case seen[r.Executor]:
				why = "the verified set repeats executor " + ShortPeer(r.Executor)
			}
			seen[r.Executor] = true
		}
	}
	if why != "" {
		m.record("memo", "", "no receipt reused: %s", why)
		m.startRound(ev.Now)
		return
	}
	for _, r := range h.Set {
		rc := r
		m.receipts = append(m.receipts, rc)
		m.emit(ReqAction{Kind: ActStoreReceipt, Award: rc.Award, Executor: rc.Executor, Receipt: &rc, Settles: true, Reused: true,
			Message: fmt.Sprintf("receipt %s of %s reused from a verified set: no execution", ShortText(rc.CID), ShortPeer(rc.Executor))})
	}
	m.need = 0
	m.emit(ReqAction{Kind: ActVerdict, Verdict: &Verdict{Verified: true, Replicas: v.Replicas, Quorum: v.Quorum,
		Groups: [][]ReceiptOutcome{h.Set}, Reused: true}})
	m.end(JobCompleted, "", fmt.Sprintf("completed: reused a verified set of %d receipts (quorum %d) from %s, %s",
		len(h.Set), v.Quorum, h.Finished.UTC().Format(time.RFC3339), VerifiedText(len(h.Set), len(h.Set), execs(h.Set))), false)
}
