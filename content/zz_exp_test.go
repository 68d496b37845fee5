package content

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"
)

func BenchmarkZZMemFetch(b *testing.B) {
	mk := func() (*Store, peer.AddrInfo) {
		h := newHost(b)
		s, err := New(context.Background(), Config{Host: h, Datastore: dssync.MutexWrap(datastore.NewMapDatastore())})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	}
	a, ai := mk()
	c, _ := mk()
	ctx := context.Background()
	root, err := a.Add(ctx, files.NewReaderFile(randReader(77, benchFetchSize)), AddOptions{Pin: true})
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		c.GC(ctx)
		start := time.Now()
		if err := c.Fetch(ctx, root, FetchOptions{Providers: []peer.AddrInfo{ai}}); err != nil {
			b.Fatal(err)
		}
		b.Logf("fetch %.1f MiB/s", mibPerSec(benchFetchSize, time.Since(start)))
	}
}
