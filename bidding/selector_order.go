package bidding

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// WithReputation sets the requester's reputation of bidders (see
// Reputation.Score): bidders of a negative score rank after every other,
// the lowest last, whatever their bids say; a score of 0 or more changes
// nothing of Rank's order (a good record buys no priority over a new
// node, a bad one costs it).
func WithReputation(score func(peer.ID) int) SelectorOption {
	return func(s *Selector) error {
		s.score = score
		return nil
	}
}

// orderLocked is the selector's final order of ranked bids: reputation
// (WithReputation), then, for a job verified with distinct: org, bidders
// of an organization no awarded bidder shares first (while there are
// any), so the replicas land in distinct organizations when available.
func (s *Selector) orderLocked(ranked []Bid) []Bid {
	if s.score != nil {
		pen := make(map[peer.ID]int, len(ranked))
		for _, b := range ranked {
			pen[b.Bidder] = min(s.score(b.Bidder), 0)
		}
		slices.SortStableFunc(ranked, func(a, b Bid) int { return cmpDesc(int64(pen[a.Bidder]), int64(pen[b.Bidder])) })
	}
	if v := s.spec.Verify; v == nil || v.Distinct != jobspec.DistinctOrg {
		return ranked
	}
	first, later := s.splitDistinctLocked(ranked)
	return append(first, later...)
}

// splitDistinctLocked splits bids into those of organizations no awarded
// bidder nor an earlier bid shares, and the others.
func (s *Selector) splitDistinctLocked(ranked []Bid) (first, later []Bid) {
	used := map[string]bool{}
	for p := range s.awarded {
		for _, k := range s.orgKeys(p) {
			used[k] = true
		}
	}
	for _, b := range ranked {
		keys := s.orgKeys(b.Bidder)
		if slices.ContainsFunc(keys, func(k string) bool { return used[k] }) {
			later = append(later, b)
			continue
		}
		for _, k := range keys {
			used[k] = true
		}
		first = append(first, b)
	}
	return first, later
}

// orgKeys are what p shares with other bidders for distinct: org: its
// orgs, or, for a peer of no known org, itself.
func (s *Selector) orgKeys(p peer.ID) []string {
	var orgs []string
	if s.orgsOf != nil {
		orgs = s.orgsOf(p)
	}
	if len(orgs) == 0 {
		return []string{"peer:" + string(p)}
	}
	out := make([]string, len(orgs))
	for i, o := range orgs {
		out[i] = "org:" + o
	}
	return out
}
