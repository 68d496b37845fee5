package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/content"
)

// The market's Fetch of a DAG another node holds reports, over real
// bitswap, the bytes local so far and the DAG's size from its root while
// the fetch goes on: the executor's fetching statuses need the total
// before the end.
func TestContentAdapterFetchProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	holder, fetcher := testNode(t), testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 4<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	c, err := holder.Content.Add(ctx, files.NewReaderFile(bytes.NewReader(data)), content.AddOptions{Pin: true})
	if err != nil {
		t.Fatal(err)
	}
	_, total, err := holder.Content.LocalBytes(ctx, c)
	if err != nil || total < int64(len(data)) {
		t.Fatalf("holder's LocalBytes: total %d, %v", total, err)
	}
	type call struct{ done, total int64 }
	var calls []call
	a := &contentAdapter{n: fetcher}
	hints := []peer.AddrInfo{{ID: holder.ID(), Addrs: holder.Host.Addrs()}}
	n, err := a.Fetch(ctx, c, hints, market.FetchLimit{Progress: func(done, total int64) { calls = append(calls, call{done, total}) }})
	if err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Fatalf("Fetch returned %d bytes, the DAG has %d", n, total)
	}
	var partial bool
	for _, x := range calls {
		if x.total == total && x.done < total {
			partial = true
		}
	}
	if !partial {
		t.Fatalf("%d progress calls, none with the total %d before the end: %v", len(calls), total, calls)
	}
}
