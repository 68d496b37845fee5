package bidding

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The simulation runs these per message and per job across 500 nodes.

func BenchmarkSealBid(b *testing.B) {
	exe := newIdentity(b, 2)
	_, _, job := testSpec(b)
	for b.Loop() {
		if _, err := Seal(exe.key, NewBid(job, exe.id, Offer{FreeSlots: 1}, t0)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenBid(b *testing.B) {
	exe := newIdentity(b, 2)
	_, _, job := testSpec(b)
	data, err := Seal(exe.key, NewBid(job, exe.id, Offer{FreeSlots: 1}, t0))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(data)), "bytes/msg")
	for b.Loop() {
		if _, err := OpenBid(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenAnnounce(b *testing.B) {
	req := newIdentity(b, 1)
	spec, _, _ := testSpec(b)
	a, err := NewAnnounce(spec, req.id, nil, 1, t0)
	if err != nil {
		b.Fatal(err)
	}
	data, err := Seal(req.key, a)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(data)), "bytes/msg")
	for b.Loop() {
		if _, err := OpenAnnounce(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRank500(b *testing.B) {
	_, _, job := testSpec(b)
	bids := make([]Bid, 500)
	for i := range bids {
		bids[i] = Bid{JobCID: job, Bidder: peer.ID(rune(i)) + "x", LocalBytes: int64(i % 7), TotalBytes: 10, FreeSlots: i % 3, EstStart: time.Duration(i%5) * time.Second}
	}
	for b.Loop() {
		Rank(bids)
	}
}
