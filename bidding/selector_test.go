package bidding

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

func TestSelector(t *testing.T) {
	ids := bidders(t, 5)
	spec, _, job := testSpec(t, func(s *jobspec.Spec) {
		s.Count = 2
		s.Constraints.Executors.Peers = ids[:4] // ids[4] is not eligible
	})
	_, _, otherJob := testSpec(t, func(s *jobspec.Spec) { s.Name = "other" })
	s, err := NewSelector(job, spec, t0, WithWindow(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if s.Deadline() != t0.Add(100*time.Millisecond) {
		t.Fatalf("Deadline %s", s.Deadline())
	}
	bid := func(i int, local int64, at time.Time) *Bid {
		return &Bid{JobCID: job, Bidder: ids[i], LocalBytes: local, TotalBytes: 100, FreeSlots: 1, ReservationTTL: time.Second, IssuedAt: at}
	}
	at := t0.Add(time.Millisecond)
	if err := s.Offer(&Bid{JobCID: otherJob, Bidder: ids[0]}, at); !errors.Is(err, ErrWrongJob) {
		t.Fatalf("other job: %v", err)
	}
	if err := s.Offer(bid(4, 100, at), at); !errors.Is(err, ErrNotEligible) {
		t.Fatalf("ineligible: %v", err)
	}
	for i, local := range []int64{100, 30, 60, 10} {
		if err := s.Offer(bid(i, local, at), at); err != nil {
			t.Fatal(err)
		}
	}
	// An older bid does not replace a newer one.
	if err := s.Offer(bid(1, 0, t0), at); err != nil {
		t.Fatal(err)
	}
	if s.Done(at) {
		t.Fatal("window closed with one fully-local bid for count 2")
	}
	if !s.Done(t0.Add(100 * time.Millisecond)) {
		t.Fatal("window still open at its deadline")
	}
	won := s.Pick(at)
	if got := order(won, ids); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("Pick: %v", got)
	}
	// Both running: nothing more to pick.
	if more := s.Pick(at); len(more) != 0 {
		t.Fatalf("second Pick: %v", order(more, ids))
	}
	// Executor 0 dies: exclude it, fail over to the next best (1, local 30).
	s.Exclude(ids[0])
	if err := s.Offer(bid(0, 100, at), at); !errors.Is(err, ErrExcluded) {
		t.Fatalf("excluded: %v", err)
	}
	next, ok := s.Next(at)
	if !ok || next.Bidder != ids[1] {
		t.Fatalf("Next: %v %v", ok, next.Bidder)
	}
	// The last bid's reservation has lapsed a second later: re-announce.
	if _, ok := s.Next(at.Add(time.Second)); ok {
		t.Fatal("Next returned a bid whose reservation lapsed")
	}
	s.Restart(at.Add(2 * time.Second))
	if len(s.Bids()) != 0 {
		t.Fatal("Restart kept bids")
	}
	// After the restart, bidder 2 (still running) bids again; it is not
	// picked twice.
	if err := s.Offer(bid(2, 100, at.Add(2*time.Second)), at.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if more := s.Pick(at.Add(2 * time.Second)); len(more) != 0 {
		t.Fatalf("Pick after restart: %v", order(more, ids))
	}
}

func TestSelectorOps(t *testing.T) {
	ids := bidders(t, 3)
	spec, _, job := testSpec(t, func(s *jobspec.Spec) { s.Type = jobspec.Ops })
	s, err := NewSelector(job, spec, t0, WithOrgResolver(func(peer.ID) []string { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := s.Offer(&Bid{JobCID: job, Bidder: id, FreeSlots: 1, IssuedAt: t0}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if s.Done(t0.Add(DefaultBidWindow - time.Millisecond)) {
		t.Fatal("ops window closed early")
	}
	if got := s.Pick(t0.Add(DefaultBidWindow)); len(got) != 3 {
		t.Fatalf("ops Pick: %d, want all 3", len(got))
	}
}

func TestSelectorOptions(t *testing.T) {
	spec, _, job := testSpec(t)
	for _, d := range []time.Duration{0, -time.Second, time.Minute} {
		if _, err := NewSelector(job, spec, t0, WithWindow(d)); err == nil {
			t.Errorf("WithWindow(%s) accepted", d)
		}
	}
}

// A solicited round closes once every peer asked answered, whether with a
// bid, a decline or nothing; a restart opens an unsolicited window.
func TestSelectorSolicited(t *testing.T) {
	ids := bidders(t, 3)
	spec, _, job := testSpec(t)
	s, err := NewSelector(job, spec, t0, WithWindow(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	busy := func(i int) *Bid { // a holder with no free slot: not enough to close
		return &Bid{JobCID: job, Bidder: ids[i], LocalBytes: 100, TotalBytes: 100, QueueDepth: 3, ReservationTTL: time.Second, IssuedAt: t0}
	}
	at := t0.Add(time.Millisecond)
	if err := s.Offer(busy(0), at); err != nil { // arrives before Solicit
		t.Fatal(err)
	}
	s.Solicit(ids, at)
	if want := at.Add(SolicitedWindowFactor * time.Second); s.Deadline() != want {
		t.Fatalf("solicited window closes at %s, want %s", s.Deadline(), want)
	}
	if !s.Solicited() {
		t.Fatal("not solicited")
	}
	if s.Done(at) {
		t.Fatal("closed with 1 of 3 asked peers answered")
	}
	if err := s.Offer(busy(1), at); err != nil {
		t.Fatal(err)
	}
	if s.Done(at) {
		t.Fatal("closed with 2 of 3 asked peers answered")
	}
	if !s.Done(at.Add(SolicitedWindowFactor * time.Second)) {
		t.Fatal("solicited window open past its bound")
	}
	s.Answered(ids[2]) // declined or unreachable
	if !s.Done(at) {
		t.Fatal("still open with every asked peer answered")
	}
	s.Restart(at)
	if s.Solicited() || s.Done(at) {
		t.Fatal("restart kept the solicited round")
	}
	s.Answered(ids[0]) // not asked in this window: no effect
	if s.Done(at) {
		t.Fatal("an answer closed an unsolicited window")
	}
}
