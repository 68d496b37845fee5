package testnet

import (
	"context"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"

	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/internal/kubotest"
)

// ServeBlocks starts a bare libp2p host on 127.0.0.1 with a content Store
// (bitswap, no DHT) holding blks, and returns its multiaddr with /p2p/ID
// for a daemon's --bootstrap. It is a peer that serves whatever blocks a
// test made by hand, hostile DAGs included. It stops at the end of the test.
func ServeBlocks(t testing.TB, blks []blocks.Block) string {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatalf("serve blocks: new host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := content.New(ctx, content.Config{Host: h, Datastore: dssync.MutexWrap(datastore.NewMapDatastore())})
	if err != nil {
		t.Fatalf("serve blocks: new store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, b := range blks {
		if err := s.PutBlock(ctx, b); err != nil {
			t.Fatalf("serve blocks: put %s: %v", b.Cid(), err)
		}
	}
	for _, a := range h.Addrs() {
		return a.String() + "/p2p/" + h.ID().String()
	}
	t.Fatal("serve blocks: the host has no address")
	return ""
}

// StartKubo runs a stock kubo daemon on loopback until the test ends (see
// kubotest.Start): a peer that is not Shoal, which serves any block put
// into it, hand-made dag-pb nodes included (`ipfs dag put --store-codec
// dag-pb`).
func StartKubo(t testing.TB) *kubotest.Kubo { return kubotest.Start(t) }
