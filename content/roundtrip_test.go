package content

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestRoundTripFiles adds files on A and fetches them on B, which is
// connected to A, then reads them back on B with the network gone.
func TestRoundTripFiles(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	a, b := nodes[0], nodes[1]
	sizes := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"one chunk", 256 << 10},
		{"chunk plus one", 256<<10 + 1},
		{"3 MiB", 3 << 20},
		{"64 MiB", 64 << 20},
	}
	for i, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			if tc.size > 8<<20 && testing.Short() {
				t.Skip("large file skipped in -short")
			}
			data := randBytes(uint64(i), tc.size)
			c := addBytes(t, a.store, data, AddOptions{Pin: true})
			ctx := testCtx(t, 2*time.Minute)

			var last Progress
			var calls int
			err := b.store.Fetch(ctx, c, FetchOptions{
				Providers: []peer.AddrInfo{a.info()},
				Progress:  func(p Progress) { last = p; calls++ },
			})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if calls == 0 || last.Bytes != last.Total || last.Total <= 0 && tc.size > 0 {
				t.Errorf("progress: %d calls, last %+v", calls, last)
			}
			st, err := b.store.Stat(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Local || st.Size != int64(tc.size) || st.Type != TypeFile || st.LocalBytes != st.CumulativeSize {
				t.Errorf("stat after fetch: %+v", st)
			}
			if got := catAll(t, ctx, b.store, c); !bytes.Equal(got, data) {
				t.Fatalf("cat on B: %d bytes, want %d (content differs)", len(got), len(data))
			}
			out := filepath.Join(t.TempDir(), "out")
			if err := b.store.WriteTo(ctx, c, out, false); err != nil {
				t.Fatalf("write to: %v", err)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
				t.Fatalf("WriteTo wrote %d bytes, want %d (content differs)", len(got), len(data))
			}
		})
	}
}

// TestRoundTripTree fetches a directory tree with nested and empty
// directories and symlinks, found through the DHT: B is connected to C
// only, and C to A.
func TestRoundTripTree(t *testing.T) {
	nodes := newTestNodes(t, 3, true, testOpts{findTimeout: 10 * time.Second})
	a, b := nodes[0], nodes[2]
	src := makeTree(t)
	node, err := OpenPath(src, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 2*time.Minute)
	c, err := a.store.Add(ctx, node, AddOptions{Pin: true})
	if err != nil {
		t.Fatalf("add tree: %v", err)
	}
	// Wait until the provider record is in place rather than racing the
	// asynchronous provide.
	if err := a.store.Provide(ctx, c); err != nil {
		t.Fatalf("provide: %v", err)
	}

	// The DHT's own lookups may have connected B to A: cut that, and make B
	// forget A's addresses, so that only a provider record can lead B to A.
	_ = b.h.Network().ClosePeer(a.h.ID())
	b.h.Peerstore().ClearAddrs(a.h.ID())
	if b.h.Network().Connectedness(a.h.ID()) == network.Connected {
		t.Fatal("B is still connected to A")
	}
	if err := b.store.Fetch(ctx, c, FetchOptions{}); err != nil {
		t.Fatalf("fetch through the DHT: %v", err)
	}
	if b.h.Network().Connectedness(a.h.ID()) != network.Connected {
		t.Error("B fetched without connecting to A: expected A found through the DHT")
	}

	entries, err := b.store.Ls(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]NodeType{
		"a.txt": TypeFile, "empty": TypeFile, "one": TypeFile, "sub": TypeDirectory,
		"emptydir": TypeDirectory, "link-to-a": TypeSymlink,
	}
	if len(entries) != len(want) {
		t.Errorf("ls: %d entries, want %d: %+v", len(entries), len(want), entries)
	}
	for _, e := range entries {
		if want[e.Name] != e.Type {
			t.Errorf("ls: %s is %s, want %s", e.Name, e.Type, want[e.Name])
		}
		if e.Name == "one" && e.Size != 1 {
			t.Errorf("ls: one has size %d", e.Size)
		}
	}

	out := filepath.Join(t.TempDir(), "copy")
	if err := b.store.WriteTo(ctx, c, out, false); err != nil {
		t.Fatalf("write tree: %v", err)
	}
	diffTrees(t, src, out)
	if fi, err := os.Lstat(filepath.Join(out, "link-to-a")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link-to-a is not a symlink: %v %v", fi, err)
	}

	if _, err := b.store.Cat(ctx, c); !errors.Is(err, ErrNotFile) {
		t.Errorf("cat of a directory: %v, want ErrNotFile", err)
	}
}

// TestFetchNoProviders: an unknown CID fails after the configured wait with
// the documented error, and never hangs.
func TestFetchNoProviders(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{findTimeout: 2 * time.Second})
	b := nodes[1]
	c := cidOf(t, []byte("nobody has this "+t.Name()))
	ctx := testCtx(t, time.Minute)
	for name, call := range map[string]func() error{
		"Fetch":    func() error { return b.store.Fetch(ctx, c, FetchOptions{}) },
		"Cat":      func() error { _, err := b.store.Cat(ctx, c); return err },
		"GetBlock": func() error { _, err := b.store.GetBlock(ctx, c); return err },
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if !errors.Is(err, ErrNoProviders) || !errors.Is(err, ErrNotFound) {
				t.Fatalf("got %v, want ErrNoProviders", err)
			}
			var np *NoProvidersError
			if !errors.As(err, &np) || np.CID != c || np.Wait != 2*time.Second {
				t.Errorf("error %v does not carry the CID and wait", err)
			}
			wantText := "no providers found for CID " + c.String() + " within 2s"
			if !strings.Contains(err.Error(), wantText) {
				t.Errorf("error %q does not contain %q", err, wantText)
			}
			if took < 2*time.Second || took > 10*time.Second {
				t.Errorf("took %s, want about 2s", took)
			}
		})
	}
}

// TestNoRouter: a Store without a router fetches from connected peers and
// reports missing content after the wait.
func TestNoRouter(t *testing.T) {
	a := newTestNode(t, testOpts{noRouter: true})
	b := newTestNode(t, testOpts{noRouter: true, findTimeout: time.Second})
	connect(t, a, b)
	data := randBytes(42, 700<<10)
	c := addBytes(t, a.store, data, AddOptions{Pin: true})
	ctx := testCtx(t, time.Minute)
	if got := catAll(t, ctx, b.store, c); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if err := a.store.Provide(ctx, c); !errors.Is(err, ErrNoRouter) {
		t.Errorf("provide without router: %v", err)
	}
	missing := cidOf(t, []byte("missing"))
	if err := b.store.Fetch(ctx, missing, FetchOptions{}); !errors.Is(err, ErrNoProviders) {
		t.Errorf("fetch missing without router: %v", err)
	}
}

// TestConcurrentFetches: several fetches of the same and different DAGs at
// once on one Store.
func TestConcurrentFetches(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	a, b := nodes[0], nodes[1]
	var cids []cid.Cid
	var datas [][]byte
	for i := range 3 {
		d := randBytes(uint64(100+i), 2<<20+i)
		datas = append(datas, d)
		cids = append(cids, addBytes(t, a.store, d, AddOptions{Pin: true}))
	}
	ctx := testCtx(t, 2*time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			errs <- b.store.Fetch(ctx, cids[i%3], FetchOptions{})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cids {
		if got := catAll(t, ctx, b.store, c); !bytes.Equal(got, datas[i]) {
			t.Fatalf("file %d differs", i)
		}
	}
}
