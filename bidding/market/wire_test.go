package market

import (
	"crypto/rand"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/shoalnet/shoal/bidding"
)

// Over a node's pipe to itself recv takes the node's own messages without
// verifying them again, and refuses one signed by anyone else.
func TestRecvSelfPipe(t *testing.T) {
	key := func() (crypto.PrivKey, peer.ID) {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(k)
		return k, id
	}
	selfKey, self := key()
	otherKey, other := key()
	h, _ := multihash.Sum([]byte("job"), multihash.SHA2_256, -1)
	job := cid.NewCidV1(cid.DagCBOR, h)
	for _, c := range []struct {
		name string
		key  crypto.PrivKey
		id   peer.ID
		want error
	}{
		{"own", selfKey, self, nil},
		{"other", otherKey, other, bidding.ErrSignerMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := bidding.Seal(c.key, bidding.NewBid(job, c.id, bidding.Offer{FreeSlots: 1}, time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			a, b := net.Pipe()
			defer a.Close()
			go func() { _ = bidding.WriteMsg(b, data) }()
			msg, _, err := recv(selfPipe{a, self}, bidding.MaxMessageSize, bidding.KindBid)
			if !errors.Is(err, c.want) || (c.want == nil && msg.Signer() != c.id) {
				t.Fatalf("recv: %v %v, want %v", msg, err, c.want)
			}
		})
	}
}
