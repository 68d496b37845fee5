package bidding_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// A bidder admits a job, reserves capacity and sends a signed bid; the
// requester opens it, checks the sender and ranks it.
func Example() {
	spec, err := jobspec.Parse([]byte(`
engine:
  wasm:
    module: bafkreieyqdmkm4xdorztla7zvuhreacuyisz7tesvfccwniyrrdeiuicya
`), "hello.yaml")
	if err != nil {
		panic(err)
	}
	job, _ := jobspec.JobID(spec)

	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	me, _ := peer.IDFromPrivateKey(key)
	view := &bidding.StaticView{
		Peer:       me,
		EngineList: []string{"wasm"},
		Total:      jobspec.Resources{MilliCPU: 4000, Memory: 8 << 30, Disk: 50 << 30},
		Available:  jobspec.Resources{MilliCPU: 4000, Memory: 8 << 30, Disk: 50 << 30},
		Slots:      2,
	}

	// Bidder side.
	reservations := bidding.NewReservations(0, nil)
	offer, err := reservations.Admit(job, spec, view)
	if err != nil {
		panic(err) // a *bidding.Refusal: send bidding.NewDecline(...) instead
	}
	data, err := bidding.Seal(key, bidding.NewBid(job, me, offer, time.Now()))
	if err != nil {
		panic(err)
	}
	_ = bidding.WriteMsg // on a stream: bidding.WriteMsg(stream, data)

	// Requester side.
	bid, err := bidding.OpenBid(data)
	if err != nil {
		panic(err) // forged, tampered, oversized...
	}
	fmt.Println(bid.Bidder == me, bid.FreeSlots, bid.Idle())
	// Output: true 2 true
}
