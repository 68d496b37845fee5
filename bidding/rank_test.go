package bidding

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

func bidders(t *testing.T, n int) []peer.ID {
	ids := make([]peer.ID, n)
	for i := range ids {
		ids[i] = newIdentity(t, int64(100+i)).id
	}
	return ids
}

func order(bids []Bid, ids []peer.ID) []int {
	var out []int
	for _, b := range bids {
		out = append(out, slices.Index(ids, b.Bidder))
	}
	return out
}

func TestRank(t *testing.T) {
	ids := bidders(t, 4)
	_, _, job := testSpec(t)
	mk := func(i int, local, total int64, slots, queue int, est time.Duration) Bid {
		return Bid{JobCID: job, Bidder: ids[i], LocalBytes: local, TotalBytes: total, FreeSlots: slots, QueueDepth: queue, EstStart: est}
	}
	tests := []struct {
		name string
		bids []Bid
		want []int
	}{
		{"locality first", []Bid{mk(0, 0, 0, 4, 0, 0), mk(1, 100, 100, 0, 5, time.Minute), mk(2, 50, 100, 1, 0, 0)}, []int{1, 2, 0}},
		// Bidder 0 cannot size what it does not hold: the ratio uses the
		// largest total reported.
		{"common denominator", []Bid{mk(0, 40, 40, 1, 0, 0), mk(1, 60, 100, 1, 0, 0)}, []int{1, 0}},
		{"then queue depth", []Bid{mk(0, 10, 10, 0, 3, 0), mk(1, 10, 10, 0, 1, 0), mk(2, 10, 10, 0, 2, 0)}, []int{1, 2, 0}},
		{"then free slots", []Bid{mk(0, 0, 0, 1, 0, 0), mk(1, 0, 0, 3, 0, 0), mk(2, 0, 0, 2, 0, 0)}, []int{1, 2, 0}},
		{"then estimated start", []Bid{mk(0, 0, 0, 0, 1, 3*time.Second), mk(1, 0, 0, 0, 1, time.Second)}, []int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.bids)
			got := order(Rank(tt.bids), ids)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("order %v, want %v", got, tt.want)
			}
			if !slices.EqualFunc(in, tt.bids, func(a, b Bid) bool { return a.Bidder == b.Bidder }) {
				t.Fatal("Rank modified its input")
			}
		})
	}
}

func TestRankTieBreak(t *testing.T) {
	ids := bidders(t, 8)
	// The same tied bids, in any input order, rank the same way; and two
	// jobs do not rank tied bidders identically (ties spread across nodes).
	orders := map[string]bool{}
	for j := range 3 {
		_, _, job := testSpec(t, func(s *jobspec.Spec) { s.Name = string(rune('x' + j)) })
		var bids []Bid
		for _, id := range ids {
			bids = append(bids, Bid{JobCID: job, Bidder: id, FreeSlots: 1})
		}
		first := order(Rank(bids), ids)
		slices.Reverse(bids)
		if got := order(Rank(bids), ids); !slices.Equal(got, first) {
			t.Fatalf("job %d: order depends on input order: %v vs %v", j, got, first)
		}
		orders[string(rune(first[0]))] = true
	}
	if len(orders) < 2 {
		t.Fatal("three jobs chose the same first bidder among 8 tied ones")
	}
}

func TestRankForAnywhere(t *testing.T) {
	ids := bidders(t, 2)
	spec, _, job := testSpec(t, func(s *jobspec.Spec) { s.Constraints.Locality = jobspec.Anywhere })
	bids := []Bid{
		{JobCID: job, Bidder: ids[0], LocalBytes: 100, TotalBytes: 100, QueueDepth: 2},
		{JobCID: job, Bidder: ids[1], FreeSlots: 1},
	}
	if got := order(RankFor(spec, bids), ids); !slices.Equal(got, []int{1, 0}) {
		t.Fatalf("anywhere: %v", got)
	}
	spec.Constraints.Locality = jobspec.Preferred
	if got := order(RankFor(spec, bids), ids); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("preferred: %v", got)
	}
}

func TestEligible(t *testing.T) {
	ids := bidders(t, 3)
	orgs := OrgResolver(func(p peer.ID) []string {
		if p == ids[1] {
			return []string{"acme"}
		}
		return nil
	})
	tests := []struct {
		name   string
		ex     jobspec.Executors
		orgsOf OrgResolver
		want   []bool
	}{
		{"no restriction", jobspec.Executors{}, nil, []bool{true, true, true}},
		{"peers", jobspec.Executors{Peers: []peer.ID{ids[0]}}, nil, []bool{true, false, false}},
		{"orgs without resolver", jobspec.Executors{Orgs: []string{"acme"}}, nil, []bool{false, false, false}},
		{"orgs", jobspec.Executors{Orgs: []string{"acme"}}, orgs, []bool{false, true, false}},
		{"peers or orgs", jobspec.Executors{Orgs: []string{"acme"}, Peers: []peer.ID{ids[2]}}, orgs, []bool{false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &jobspec.Spec{Constraints: jobspec.Constraints{Executors: tt.ex}}
			for i, id := range ids {
				if got := Eligible(spec, id, tt.orgsOf); got != tt.want[i] {
					t.Errorf("bidder %d: %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestWindowDone(t *testing.T) {
	ids := bidders(t, 3)
	withInputs, _, job := testSpec(t, func(s *jobspec.Spec) { s.Count = 2 })
	stateless := &jobspec.Spec{Type: jobspec.Batch, Count: 1, Engine: jobspec.Engine{Docker: &jobspec.Docker{Image: "alpine"}}}
	ops := &jobspec.Spec{Type: jobspec.Ops, Engine: jobspec.Engine{Docker: &jobspec.Docker{Image: "alpine"}}}
	opsCapped := &jobspec.Spec{Type: jobspec.Ops, Count: 1, Engine: jobspec.Engine{Docker: &jobspec.Docker{Image: "alpine"}}}
	// A url input is held by the executors that imported it; an s3 input
	// by nobody (downloaded again every time): stateless.
	urlOnly := &jobspec.Spec{Type: jobspec.Batch, Count: 1, Engine: stateless.Engine, Inputs: []jobspec.Input{{URL: testURL, Path: "/in"}}}
	s3Only := &jobspec.Spec{Type: jobspec.Batch, Count: 1, Engine: stateless.Engine,
		Inputs: []jobspec.Input{{S3: &jobspec.S3Object{Bucket: "datasets", Key: "k"}, Path: "/in"}}}
	local := func(i int) Bid {
		return Bid{JobCID: job, Bidder: ids[i], LocalBytes: 100, TotalBytes: 100, FreeSlots: 1}
	}
	remote := func(i int) Bid { return Bid{JobCID: job, Bidder: ids[i], TotalBytes: 0, FreeSlots: 1} }
	busyLocal := func(i int) Bid { b := local(i); b.FreeSlots, b.QueueDepth = 0, 1; return b }
	nobodyKnows := []Bid{remote(0), remote(1)}
	ms := time.Millisecond
	tests := []struct {
		name    string
		spec    *jobspec.Spec
		bids    []Bid
		elapsed time.Duration
		want    bool
	}{
		{"no bids, window open", withInputs, nil, 10 * ms, false},
		{"no bids, window over", withInputs, nil, 250 * ms, true},
		{"count local idle bids", withInputs, []Bid{local(0), local(1)}, 5 * ms, true},
		{"one short", withInputs, []Bid{local(0), remote(1)}, 5 * ms, false},
		{"busy local does not count", withInputs, []Bid{local(0), busyLocal(1)}, 5 * ms, false},
		{"nobody could size the inputs", withInputs, nobodyKnows, 5 * ms, false},
		{"stateless: any idle bid is local", stateless, []Bid{remote(0)}, 1 * ms, true},
		{"url input nobody imported: local nowhere", urlOnly, []Bid{remote(0), remote(1)}, 5 * ms, false},
		{"url input: the importer's idle bid closes it", urlOnly, []Bid{remote(0), local(1)}, 5 * ms, true},
		{"s3 input: stateless", s3Only, []Bid{remote(0)}, 1 * ms, true},
		{"ops waits the window", ops, []Bid{remote(0), remote(1), remote(2)}, 200 * ms, false},
		{"ops window over", ops, []Bid{remote(0)}, 250 * ms, true},
		{"ops with count closes early", opsCapped, []Bid{remote(0)}, 1 * ms, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WindowDone(tt.spec, tt.bids, tt.elapsed); got != tt.want {
				t.Fatalf("WindowDone = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	ids := bidders(t, 4)
	batch, _, job := testSpec(t, func(s *jobspec.Spec) { s.Count = 2 })
	ops, _, _ := testSpec(t, func(s *jobspec.Spec) { s.Type = jobspec.Ops })
	var bids []Bid
	for i, id := range ids {
		bids = append(bids, Bid{JobCID: job, Bidder: id, LocalBytes: int64(i), TotalBytes: 10, FreeSlots: 1})
	}
	if got := order(Select(batch, bids, nil), ids); !slices.Equal(got, []int{3, 2}) {
		t.Fatalf("batch: %v", got)
	}
	skip3 := func(p peer.ID) bool { return p == ids[3] }
	if got := order(Select(batch, bids, skip3), ids); !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("batch skipping 3: %v", got)
	}
	if got := Select(ops, bids, nil); len(got) != 4 {
		t.Fatalf("ops: %d winners, want every bidder", len(got))
	}
}

func TestNextAnnounce(t *testing.T) {
	want := map[int]time.Duration{
		-1: 0, 0: 0,
		1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 4: 4 * time.Second,
		5: 8 * time.Second, 6: 8 * time.Second, 1000: 8 * time.Second,
	}
	for attempt, d := range want {
		if got := NextAnnounce(attempt); got != d {
			t.Errorf("NextAnnounce(%d) = %s, want %s", attempt, got, d)
		}
	}
	// Until the default queue timeout a requester announces a bounded
	// number of times.
	var elapsed time.Duration
	n := 0
	for n = 1; elapsed < jobspec.DefaultQueueTimeout; n++ {
		elapsed += DefaultBidWindow + NextAnnounce(n)
	}
	if n > 45 {
		t.Fatalf("%d announcements in %s", n, jobspec.DefaultQueueTimeout)
	}
}
