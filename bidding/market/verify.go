package market

import (
	"context"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding"
)

// Verification is the record of a verified job's verdict
// (docs/protocol.md §10): whether a quorum of its replicas agreed, and
// which receipts (by award ID, as in Job.Receipts) are in which result.
type Verification struct {
	Verified bool `json:"verified"`
	Replicas int  `json:"replicas"`
	Quorum   int  `json:"quorum"`
	// Agreeing are the award IDs of the agreeing receipts (empty when
	// unverified).
	Agreeing []string `json:"agreeing,omitempty"`
	// Groups are the award IDs of the receipts of each result, the
	// largest first (Groups[0] is Agreeing when verified).
	Groups [][]string `json:"groups"`
}

func verificationOf(v *bidding.Verdict) *Verification {
	if v == nil {
		return nil
	}
	out := &Verification{Verified: v.Verified, Replicas: v.Replicas, Quorum: v.Quorum}
	for _, g := range v.Groups {
		ids := make([]string, len(g))
		for i, r := range g {
			ids[i] = r.Award.String()
		}
		out.Groups = append(out.Groups, ids)
	}
	for _, r := range v.Agreeing() {
		out.Agreeing = append(out.Agreeing, r.Award.String())
	}
	return out
}

// Pinner pins content (the node's content store). The requester of a
// verified job pins the agreed outputs, and only those: the outputs of
// an outvoted replica stay unpinned (and are never fetched by it).
type Pinner interface {
	Pin(ctx context.Context, c cid.Cid, recursive bool) error
}

// noteReputation counts what the machine's actions say of executors: a
// settling receipt (completed, or a failure on the executor's side), a
// retryable failure, an accepted award lost (a timeout).
func (d *jobDriver) noteReputation(a bidding.ReqAction, now time.Time) {
	rep := d.m.rep
	switch a.Kind {
	case bidding.ActStoreReceipt:
		if a.Settles && !a.Reused && a.Receipt != nil && a.Executor != d.m.self {
			rep.Note(a.Executor, bidding.RepOfReceipt(a.Receipt), now)
		}
	case bidding.ActRecordAward:
		if a.Executor == d.m.self {
			return
		}
		switch {
		case a.AwardState == "failed":
			rep.Note(a.Executor, bidding.RepFailure, now)
		case a.AwardState == "lost" && (a.Code == bidding.CodeRunOverdue || a.Code == bidding.CodeAwardLost):
			rep.Note(a.Executor, bidding.RepTimeout, now)
		}
	case bidding.ActVerdict:
		d.verdictDone(a.Verdict)
	}
}

// maxPinAgreed bounds the pin (and fetch) of a verified job's outputs.
const maxPinAgreed = 10 * time.Minute

// verdictDone carries out what a verdict asks beyond the record: the
// agreed outputs are pinned, each replica's executor gets its agreement
// or disagreement counted.
func (d *jobDriver) verdictDone(v *bidding.Verdict) {
	m := d.m
	if v.Reused {
		return // no replica ran: nothing to count, outputs on demand
	}
	d.publishSet(v)
	now := time.Now()
	for _, r := range v.Agreeing() {
		m.rep.Note(r.Executor, bidding.RepAgreement, now)
	}
	if v.Verified { // without a quorum, nobody is known to have lied
		for _, r := range v.Disagreeing() {
			m.rep.Note(r.Executor, bidding.RepDisagreement, now)
		}
	}
	agree := v.Agreeing()
	if len(agree) == 0 || agree[0].Outputs == "" {
		return
	}
	p, ok := m.cfg.Content.(Pinner)
	if !ok {
		return
	}
	out, err := cid.Decode(agree[0].Outputs)
	if err != nil {
		return
	}
	m.wg.Go(func() {
		ctx, cancel := context.WithTimeout(m.ctx, maxPinAgreed)
		defer cancel()
		if err := p.Pin(ctx, out, true); err != nil {
			m.log.Info("agreed outputs not pinned", "job", d.id, "outputs", out, "err", err)
			return
		}
		m.log.Info("agreed outputs pinned", "job", d.id, "outputs", out)
	})
}
