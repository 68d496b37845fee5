package bidding

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// TestSelectorReputation: a bidder of negative reputation is picked last
// even with the best bid, does not close the window early, and a
// positive score buys nothing over a new node.
func TestSelectorReputation(t *testing.T) {
	ids := bidders(t, 3)
	spec, _, job := testSpec(t, func(s *jobspec.Spec) {
		s.Verify = &jobspec.Verify{Replicas: 2, Quorum: 2, Distinct: jobspec.DistinctPeer}
	})
	score := map[peer.ID]int{ids[0]: -100, ids[1]: 50}
	s, err := NewSelector(job, spec, t0, WithWindow(time.Second), WithReputation(func(p peer.ID) int { return score[p] }))
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Millisecond)
	for i, local := range []int64{100, 10, 60} {
		if err := s.Offer(&Bid{JobCID: job, Bidder: ids[i], LocalBytes: local, TotalBytes: 100, FreeSlots: 1, IssuedAt: at}, at); err != nil {
			t.Fatal(err)
		}
	}
	got := order(s.PickUpTo(at, 0), ids)
	if !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("picked %v, want [2 1]: the liar (0) last, the high score (1) after the better bid (2)", got)
	}
	if got := order(s.PickUpTo(at, 0), ids); len(got) != 0 {
		t.Fatalf("a third replica picked: %v", got)
	}
	if n, ok := s.Next(at); !ok || n.Bidder != ids[0] {
		t.Fatalf("Next %v %v: the liar is the only bid left", n.Bidder, ok)
	}
}

// TestSelectorReputationWindow: idle, fully-local bids of bidders of
// negative reputation do not close the window early.
func TestSelectorReputationWindow(t *testing.T) {
	ids := bidders(t, 2)
	spec, _, job := testSpec(t, func(s *jobspec.Spec) { s.Constraints.Locality = jobspec.Anywhere })
	s, err := NewSelector(job, spec, t0, WithWindow(time.Second), WithReputation(func(p peer.ID) int {
		if p == ids[0] {
			return -1
		}
		return 0
	}))
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Millisecond)
	if err := s.Offer(&Bid{JobCID: job, Bidder: ids[0], FreeSlots: 1, IssuedAt: at}, at); err != nil {
		t.Fatal(err)
	}
	if s.Done(at) {
		t.Fatal("a bad-reputation bid closed the window early")
	}
	if err := s.Offer(&Bid{JobCID: job, Bidder: ids[1], FreeSlots: 1, IssuedAt: at}, at); err != nil {
		t.Fatal(err)
	}
	if !s.Done(at) {
		t.Fatal("an idle bid of a good bidder did not close the window")
	}
}

// TestSelectorDistinctOrg: with verify.distinct: org the replicas go to
// distinct orgs while bidders of an unused org remain, then to the rest.
func TestSelectorDistinctOrg(t *testing.T) {
	ids := bidders(t, 4)
	orgs := map[peer.ID][]string{ids[0]: {"acme"}, ids[1]: {"acme"}, ids[2]: {"beta"}}
	for _, distinct := range []jobspec.Distinct{jobspec.DistinctOrg, jobspec.DistinctPeer} {
		spec, _, job := testSpec(t, func(s *jobspec.Spec) {
			s.Verify = &jobspec.Verify{Replicas: 3, Quorum: 2, Distinct: distinct}
		})
		s, err := NewSelector(job, spec, t0, WithOrgResolver(func(p peer.ID) []string { return orgs[p] }))
		if err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Millisecond)
		for i, local := range []int64{100, 90, 10, 5} {
			if err := s.Offer(&Bid{JobCID: job, Bidder: ids[i], LocalBytes: local, TotalBytes: 100, FreeSlots: 1, IssuedAt: at}, at); err != nil {
				t.Fatal(err)
			}
		}
		got := order(s.PickUpTo(at, 0), ids)
		want := []int{0, 2, 3} // acme, beta, no org (itself); the second acme last
		if distinct == jobspec.DistinctPeer {
			want = []int{0, 1, 2}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("distinct %s: picked %v, want %v", distinct, got, want)
		}
		if n, ok := s.Next(at); distinct == jobspec.DistinctOrg && (!ok || n.Bidder != ids[1]) {
			t.Fatalf("Next %v %v", n.Bidder, ok)
		}
	}
}

// TestSelectorDistinctOrgWindow: with distinct: org, idle bids of one org
// do not close the window early; one of another org does.
func TestSelectorDistinctOrgWindow(t *testing.T) {
	ids := bidders(t, 3)
	orgs := map[peer.ID][]string{ids[0]: {"acme"}, ids[1]: {"acme"}, ids[2]: {"beta"}}
	spec, _, job := testSpec(t, func(s *jobspec.Spec) {
		s.Constraints.Locality = jobspec.Anywhere
		s.Verify = &jobspec.Verify{Replicas: 2, Quorum: 2, Distinct: jobspec.DistinctOrg}
	})
	s, err := NewSelector(job, spec, t0, WithWindow(time.Second), WithOrgResolver(func(p peer.ID) []string { return orgs[p] }))
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Millisecond)
	for _, i := range []int{0, 1} {
		if err := s.Offer(&Bid{JobCID: job, Bidder: ids[i], FreeSlots: 1, IssuedAt: at}, at); err != nil {
			t.Fatal(err)
		}
	}
	if s.Done(at) {
		t.Fatal("two bids of one org closed the window of a distinct: org job")
	}
	if err := s.Offer(&Bid{JobCID: job, Bidder: ids[2], FreeSlots: 1, IssuedAt: at}, at); err != nil {
		t.Fatal(err)
	}
	if !s.Done(at) {
		t.Fatal("bids of two orgs did not close the window")
	}
}
