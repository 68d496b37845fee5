package market

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Trust is the org membership layer as the market sees it (package
// bidding/trust behind it, wired by node). A nil Trust presents no
// certificates and resolves no org, so constraints.executors.orgs admits
// nobody by itself.
type Trust interface {
	// Certs are this node's membership certificates, presented in its
	// announcements and bids (at most bidding.MaxCerts).
	Certs() [][]byte
	// Learn records the certificates p presented in a message it signed
	// (announce or bid); the latest presentation replaces earlier ones.
	Learn(p peer.ID, certs [][]byte)
	// ExecutorOrgs lists the orgs p proved membership of with the executor
	// role (for constraints.executors.orgs).
	ExecutorOrgs(p peer.ID) []string
}

// Policy is the operator's admission policy and abuse limits as the market
// sees them (package bidding/policy behind it, wired by node). A nil
// Policy admits every job the node can run and limits nothing beyond the
// protocol's own bounds.
type Policy interface {
	// Admit decides on a job before the node bids (r.Award false) and when
	// its award arrives (r.Award true; an admitted award counts against the
	// requester's rate). It returns nil or a *bidding.Refusal.
	Admit(ctx context.Context, r AdmitRequest) error
	// AdmitRequester decides on what an announcement alone tells: its
	// requester (allow-list, with the certificates the announcement
	// presented, and rate). It runs before a spec announced by CID is
	// fetched, so that a refused requester costs no fetch. It returns nil
	// or a *bidding.Refusal; Admit still runs on the spec.
	AdmitRequester(ctx context.Context, requester peer.ID) error
	// AllowAnnounce reports whether an announcement authored by author and
	// received from from may be processed now (per-peer rate limit).
	AllowAnnounce(author, from peer.ID) bool
	// AllowStream reports whether p may open another stream of proto now.
	AllowStream(p peer.ID, proto protocol.ID) bool
}

// AdmitRequest is a job submitted to Policy.Admit.
type AdmitRequest struct {
	Job       cid.Cid
	Spec      *jobspec.Spec
	Requester peer.ID
	// Award is false before bidding, true when the award arrives.
	Award bool
	// Running is how many of the requester's awards this node holds now
	// (queued or running), not counting this one.
	Running int
	// View is the node as admission sees it (content held, capacity).
	View bidding.NodeView
}

// membership is the trust layer as both sides use it: the certificates
// this node presents, what peers presented, and org resolution for
// constraints.executors. It is stateless here (the Trust behind it keeps
// its own state and lock).
type membership struct {
	trust Trust
	self  peer.ID
}

// certs returns this node's certificates for its announcements and bids.
func (g membership) certs() [][]byte {
	if g.trust == nil {
		return nil
	}
	c := g.trust.Certs()
	if len(c) > bidding.MaxCerts {
		c = c[:bidding.MaxCerts]
	}
	return c
}

// learn records the certificates a peer presented.
func (g membership) learn(p peer.ID, certs [][]byte) {
	if g.trust != nil && p != g.self {
		g.trust.Learn(p, certs)
	}
}

// orgsOf is the org resolver of constraints.executors.orgs (nil without
// a trust layer).
func (g membership) orgsOf() bidding.OrgResolver {
	if g.trust == nil {
		return nil
	}
	return g.trust.ExecutorOrgs
}

// eligible reports whether p may execute spec under constraints.executors:
// bids from others are ignored and their receipts rejected.
func (g membership) eligible(spec *jobspec.Spec, p peer.ID) bool {
	return bidding.Eligible(spec, p, g.orgsOf())
}

// withCerts attaches this node's certificates to a bid it is about to send.
func (ex *executor) withCerts(msg bidding.Message) bidding.Message {
	if b, ok := msg.(*bidding.Bid); ok {
		b.Certs = ex.certs()
	}
	return msg
}

// policyRefusal applies the operator's policy to a job of requester,
// before bidding (award false) or when its award arrives (award true).
func (ex *executor) policyRefusal(ctx context.Context, job cid.Cid, spec *jobspec.Spec, requester peer.ID, award bool) *bidding.Refusal {
	if ex.cfg.Policy == nil {
		return nil
	}
	err := ex.cfg.Policy.Admit(ctx, AdmitRequest{Job: job, Spec: spec, Requester: requester, Award: award,
		Running: ex.liveAwardsOf(requester), View: ex.view()})
	if err == nil {
		return nil
	}
	var r *bidding.Refusal
	if !errors.As(err, &r) {
		r = &bidding.Refusal{Code: bidding.CodePolicyDenied, Reason: err.Error()}
	}
	ex.log.Info("job refused by policy", "job", job, "requester", requester, "award", award, "code", r.Code, "reason", r.Reason)
	r.Reason = bidding.TruncateText(r.Reason, bidding.MaxReasonLen)
	return r
}

// requesterRefusal applies the part of the operator's policy that needs
// no spec (see Policy.AdmitRequester).
func (ex *executor) requesterRefusal(ctx context.Context, job cid.Cid, requester peer.ID) *bidding.Refusal {
	if ex.cfg.Policy == nil {
		return nil
	}
	err := ex.cfg.Policy.AdmitRequester(ctx, requester)
	if err == nil {
		return nil
	}
	var r *bidding.Refusal
	if !errors.As(err, &r) {
		r = &bidding.Refusal{Code: bidding.CodePolicyDenied, Reason: err.Error()}
	}
	ex.log.Info("job refused by policy before its spec was fetched", "job", job, "requester", requester, "code", r.Code, "reason", r.Reason)
	r.Reason = bidding.TruncateText(r.Reason, bidding.MaxReasonLen)
	return r
}

// policyDecline is policyRefusal as the Decline answering an announce.
func (ex *executor) policyDecline(ctx context.Context, a *bidding.Announce, spec *jobspec.Spec) bidding.Message {
	ex.learn(a.Requester, a.Certs)
	if r := ex.policyRefusal(ctx, a.JobCID, spec, a.Requester, false); r != nil {
		return bidding.NewDecline(a.JobCID, bidding.AwardID{}, ex.self, r, ex.now())
	}
	return nil
}

// liveAwardsOf counts the awards of requester this node holds now.
func (ex *executor) liveAwardsOf(requester peer.ID) int {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	n := 0
	for _, e := range ex.execs {
		if e.award.Requester == requester {
			n++
		}
	}
	return n
}

// allowStream applies the operator's per-peer stream rate limit to an
// inbound stream of proto from p (the transport resets a refused one).
func allowStream(policy Policy, log *slog.Logger) func(peer.ID, protocol.ID) bool {
	if policy == nil {
		return nil
	}
	return func(p peer.ID, proto protocol.ID) bool {
		if policy.AllowStream(p, proto) {
			return true
		}
		log.Debug("stream refused: peer over its rate", "peer", p, "protocol", proto)
		return false
	}
}

// announceRate applies the per-author rate limit in the topic validator,
// before the message is decoded. An over-rate message is ignored (not
// delivered, not forwarded); the Policy scores its author down, so a
// flooder ends up graylisted by gossipsub while a requester that briefly
// exceeds the burst, or an honest relay, is not punished for it.
func (ex *executor) announceRate(from, author peer.ID) verdict {
	if ex.cfg.Policy == nil || author == ex.self || ex.cfg.Policy.AllowAnnounce(author, from) {
		return verdictAccept
	}
	return verdictIgnore
}

// ignoredBid notes in the job's events, once per bidder, that a bid from
// outside constraints.executors was ignored.
func (m *Market) ignoredBid(b *bidding.Bid, err error) {
	if !errors.Is(err, bidding.ErrNotEligible) {
		return
	}
	msg := fmt.Sprintf("bid from %s ignored: not among the job's executors (constraints.executors)", short(b.Bidder.String()))
	m.update(b.JobCID, func(j *Job) {
		for _, e := range j.Events {
			if e.Message == msg {
				return
			}
		}
		j.log(Event{Type: "bid", Peer: b.Bidder.String(), Message: msg})
	})
}
