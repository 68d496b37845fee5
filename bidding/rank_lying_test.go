package bidding

import (
	"slices"
	"testing"
	"time"
)

// TestRankLyingBid: with the requester's own total, a bid claiming 10^15
// bytes counts as holding the whole job and no more, so it does not move
// ahead of an honest fully-local bid that is less busy, and its claimed
// total does not make honest fully-local bids look partial.
func TestRankLyingBid(t *testing.T) {
	ids := bidders(t, 4)
	spec, _, job := testSpec(t)
	const total = 100 // what the requester sized its inputs to
	const huge = int64(1e15)
	mk := func(i int, local, tot int64, queue int) Bid {
		slots := 0
		if queue == 0 {
			slots = 1
		}
		return Bid{JobCID: job, Bidder: ids[i], LocalBytes: local, TotalBytes: tot, FreeSlots: slots, QueueDepth: queue}
	}
	honest := []Bid{mk(0, 100, 100, 0), mk(1, 60, 100, 0), mk(2, 0, 0, 0)}
	tests := []struct {
		name string
		liar Bid
		want []int // the whole order, liar included (index 3)
	}{
		// Capped at 100, the liar ties on locality with bidder 0 and
		// loses on its queue.
		{"claims 10^15 local bytes", mk(3, huge, huge, 2), []int{0, 3, 1, 2}},
		{"claims more local bytes than the total", mk(3, 150, 100, 1), []int{0, 3, 1, 2}},
		// A claimed total changes nothing: the denominator is the
		// requester's.
		{"claims a 10^15 total, holds little", mk(3, 10, huge, 0), []int{0, 1, 3, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bids := append(slices.Clone(honest), tt.liar)
			got := order(RankTotal(spec, bids, total), ids)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("order %v, want %v", got, tt.want)
			}
			without := slices.DeleteFunc(slices.Clone(got), func(i int) bool { return i == 3 })
			if alone := order(RankTotal(spec, honest, total), ids); !slices.Equal(without, alone) {
				t.Fatalf("honest bids ranked %v with the liar, %v without", without, alone)
			}
			if !fullyLocal(spec, &bids[0], bids, total) {
				t.Fatal("the honest bid holding every byte is not fully local next to the liar")
			}
			if got := localOf(&bids[3], total); got > total {
				t.Fatalf("liar counted for %d local bytes, more than the job's %d", got, total)
			}
			// Bidder 0 alone holds everything and is idle: a Count 1
			// window closes at once, whatever the liar claims.
			if !windowDone(spec, bids, 0, time.Second, total) {
				t.Fatal("window of a job with a fully-local idle bid did not close early")
			}
		})
	}
}

// TestSelectorUsesRequesterTotal: a Selector built WithTotal ranks and
// closes its window by the requester's total.
func TestSelectorUsesRequesterTotal(t *testing.T) {
	ids := bidders(t, 2)
	spec, _, job := testSpec(t)
	now := time.Now()
	sel, err := NewSelector(job, spec, now, WithTotal(100))
	if err != nil {
		t.Fatal(err)
	}
	liar := Bid{JobCID: job, Bidder: ids[1], LocalBytes: 1e15, TotalBytes: 1e15, QueueDepth: 3, IssuedAt: now}
	honest := Bid{JobCID: job, Bidder: ids[0], LocalBytes: 100, TotalBytes: 100, FreeSlots: 1, IssuedAt: now}
	for _, b := range []Bid{liar, honest} {
		if err := sel.Offer(&b, now); err != nil {
			t.Fatal(err)
		}
	}
	if !sel.Done(now) {
		t.Fatal("window not done with an idle fully-local bid")
	}
	if got := order(sel.Pick(now), ids); !slices.Equal(got, []int{0}) {
		t.Fatalf("picked %v, want the honest bidder 0", got)
	}
	if _, err := NewSelector(job, spec, now, WithTotal(-5)); err == nil {
		t.Fatal("a negative total was accepted")
	}
}

// TestRankUnknownTotalMedian: a requester that cannot size the inputs
// ranks by the median of the totals claimed, which one liar among honest
// sizers does not move.
func TestRankUnknownTotalMedian(t *testing.T) {
	ids := bidders(t, 4)
	spec, _, job := testSpec(t)
	bids := []Bid{
		{JobCID: job, Bidder: ids[0], LocalBytes: 100, TotalBytes: 100, QueueDepth: 1},
		{JobCID: job, Bidder: ids[1], LocalBytes: 50, TotalBytes: 100, FreeSlots: 1},
		{JobCID: job, Bidder: ids[2], LocalBytes: 0, TotalBytes: 0, FreeSlots: 1}, // holds nothing: cannot size
		{JobCID: job, Bidder: ids[3], LocalBytes: 1e15, TotalBytes: 1e15, QueueDepth: 2},
	}
	if got := jobTotal(bids, UnknownTotal); got != 100 {
		t.Fatalf("total %d, want the honest 100", got)
	}
	if got := order(RankTotal(spec, bids, UnknownTotal), ids); !slices.Equal(got, []int{0, 3, 1, 2}) {
		t.Fatalf("order %v", got)
	}
}
