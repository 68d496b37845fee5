package content

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/peer"
)

// lyingFile builds a UnixFS file whose root claims claim bytes in all (its
// filesize and every link's Tsize) while its n raw leaves hold leafSize
// bytes each. It returns the root and every block, root first.
func lyingFile(tb testing.TB, n, leafSize int, linkTwice bool) (cid.Cid, []blocks.Block, []cid.Cid) {
	tb.Helper()
	fsn := unixfs.NewFSNode(unixfs.TFile)
	root := merkledag.NodeWithData(nil)
	var all []blocks.Block
	var leaves []cid.Cid
	for i := range n {
		leaf := merkledag.NewRawNode(randBytes(uint64(1000+i), leafSize))
		if linkTwice {
			leaf = merkledag.NewRawNode(randBytes(1000, leafSize)) // the same leaf n times
		}
		if err := root.AddRawLink("", &ipld.Link{Cid: leaf.Cid(), Size: 1}); err != nil {
			tb.Fatal(err)
		}
		fsn.AddBlockSize(1)
		if i == 0 || !linkTwice {
			all = append(all, leaf)
			leaves = append(leaves, leaf.Cid())
		}
	}
	data, err := fsn.GetBytes()
	if err != nil {
		tb.Fatal(err)
	}
	root.SetData(data)
	return root.Cid(), append([]blocks.Block{root}, all...), leaves
}

// putAll stores blks in s's blockstore directly (no pin, no announce).
func putAll(tb testing.TB, s *Store, blks []blocks.Block) {
	tb.Helper()
	for i := 0; i < len(blks); i += 10000 {
		if err := s.Blockstore().PutMany(context.Background(), blks[i:min(i+10000, len(blks))]); err != nil {
			tb.Fatal(err)
		}
	}
}

// storedBytes is how many bytes of the given blocks s holds.
func storedBytes(tb testing.TB, s *Store, cs []cid.Cid) int64 {
	tb.Helper()
	var n int64
	for _, c := range cs {
		size, err := s.Blockstore().GetSize(context.Background(), c)
		if ipld.IsNotFound(err) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		n += int64(size)
	}
	return n
}

// A provider serves a file whose root says it is 40 bytes while its leaves
// hold 10 MiB: a fetch bounded to 1 MiB stops with ErrTooLarge once the
// bytes received would pass the bound, having stored no more than the
// bound, and pins nothing.
func TestFetchBoundStopsLyingRoot(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	prov, fetcher := nodes[0], nodes[1]
	root, blks, leaves := lyingFile(t, 40, 256<<10, false)
	putAll(t, prov.store, blks)
	if _, total, err := prov.store.LocalBytes(context.Background(), root); err != nil || total > 4<<10 {
		t.Fatalf("the root should claim under 4 KiB: total %d, %v", total, err)
	}

	const bound = 1 << 20
	ctx := testCtx(t, time.Minute)
	err := fetcher.store.Fetch(ctx, root, FetchOptions{Providers: []peer.AddrInfo{prov.info()}, MaxBytes: bound, MaxBytesName: "jobs.max_input_bytes"})
	var tl *TooLargeError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) {
		t.Fatalf("fetch of a lying DAG over the bound: %v, want ErrTooLarge", err)
	}
	if tl.Block || tl.Expanded || tl.Claimed || tl.Limit != bound || tl.Got > bound {
		t.Fatalf("error %+v", tl)
	}
	want := fmt.Sprintf("content: fetch %s: more than 1 MiB (jobs.max_input_bytes): stopped after ", root)
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want it to start with %q", err, want)
	}
	stored := storedBytes(t, fetcher.store, append([]cid.Cid{root}, leaves...))
	if stored > bound {
		t.Fatalf("stored %d bytes, more than the bound %d", stored, bound)
	}
	if pins, err := fetcher.store.Pins(ctx); err != nil || len(pins) != 0 {
		t.Fatalf("pins after a refused fetch: %v %v", pins, err)
	}
	t.Logf("stopped after %d bytes, %d stored: %v", tl.Got, stored, err)

	// The same DAG with a bound it fits in is fetched in full.
	if err := fetcher.store.Fetch(ctx, root, FetchOptions{Providers: []peer.AddrInfo{prov.info()}, MaxBytes: 11 << 20}); err != nil {
		t.Fatalf("fetch within the bound: %v", err)
	}
}

// A root that records more than the bound is refused before anything past
// it is fetched.
func TestFetchBoundClaimedSize(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	prov, fetcher := nodes[0], nodes[1]
	data := randBytes(7, 3<<20)
	root := addBytes(t, prov.store, data, AddOptions{})
	err := fetcher.store.Fetch(testCtx(t, time.Minute), root, FetchOptions{Providers: []peer.AddrInfo{prov.info()}, MaxBytes: 1 << 20, MaxBytesName: "jobs.max_output_bytes"})
	var tl *TooLargeError
	if !errors.As(err, &tl) || !tl.Claimed || !strings.Contains(err.Error(), "more than 1 MiB (jobs.max_output_bytes): the root records") {
		t.Fatalf("fetch of a root claiming 3 MiB with a 1 MiB bound: %v", err)
	}
	held, _, err := fetcher.store.LocalBytes(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if rootSize := storedBytes(t, fetcher.store, []cid.Cid{root}); held != rootSize {
		t.Fatalf("holds %d bytes of the DAG, want only its root (%d)", held, rootSize)
	}
}

// One small leaf linked 200 times is a small DAG to store but 50 MiB of
// files: a bound on the fetch covers what the DAG expands to.
func TestFetchBoundExpandedSize(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	prov, fetcher := nodes[0], nodes[1]
	root, blks, _ := lyingFile(t, 200, 256<<10, true)
	putAll(t, prov.store, blks)
	err := fetcher.store.Fetch(testCtx(t, time.Minute), root, FetchOptions{Providers: []peer.AddrInfo{prov.info()}, MaxBytes: 1 << 20})
	var tl *TooLargeError
	if !errors.As(err, &tl) || !tl.Expanded || tl.Got < 50<<20 {
		t.Fatalf("fetch of a DAG linking one leaf 200 times with a 1 MiB bound: %v", err)
	}
}

// A peer that sends a block over MaxBlockSize (boxo's bitswap reads
// messages of up to 4 MiB) sees it refused, as a root and as a leaf, and
// it is not stored.
func TestFetchRefusesOversizedBlock(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	prov, fetcher := nodes[0], nodes[1]
	big := merkledag.NewRawNode(randBytes(9, MaxBlockSize+1<<20))
	parent := merkledag.NodeWithData(nil)
	if err := parent.AddNodeLink("big", big); err != nil {
		t.Fatal(err)
	}
	putAll(t, prov.store, []blocks.Block{big, parent})
	for _, c := range []cid.Cid{big.Cid(), parent.Cid()} {
		t.Run(c.String(), func(t *testing.T) {
			err := fetcher.store.Fetch(testCtx(t, time.Minute), c, FetchOptions{Providers: []peer.AddrInfo{prov.info()}})
			var tl *TooLargeError
			if !errors.As(err, &tl) || !tl.Block || tl.Got != int64(len(big.RawData())) {
				t.Fatalf("fetch with a 3 MiB block: %v, want a refused block", err)
			}
			if !strings.Contains(err.Error(), "a peer sent a block of 3 MiB, more than the 2 MiB a block may have") {
				t.Fatalf("error %q", err)
			}
			if fetcher.store.Has(context.Background(), big.Cid()) {
				t.Fatal("the oversized block was stored")
			}
		})
	}
}

// deepChain builds a chain of n dag-pb nodes, each linking the next, bottom
// up; it returns the top and every block.
func deepChain(n int) (cid.Cid, []blocks.Block) {
	blks := make([]blocks.Block, 0, n)
	var below *merkledag.ProtoNode
	for range n {
		nd := merkledag.NodeWithData([]byte{1})
		if below != nil {
			_ = nd.AddRawLink("", &ipld.Link{Cid: below.Cid(), Size: 1})
		}
		blks = append(blks, nd)
		below = nd
	}
	return below.Cid(), blks
}

// A chain 200,000 levels deep crashed the process (a Go stack overflow is
// fatal) in every recursive walk; now each walk returns ErrTooDeep at once.
// The goroutine stack is capped at 16 MiB so that a walk recursing per
// level overflows within the test (the old walkLocal does, at about 60k
// levels), where the default 1 GiB cap would need millions of levels.
func TestDeepDAGBounded(t *testing.T) {
	n := newTestNode(t, testOpts{noRouter: true})
	top, blks := deepChain(200_000)
	putAll(t, n.store, blks)
	old := debug.SetMaxStack(16 << 20)
	defer debug.SetMaxStack(old)

	ctx := testCtx(t, time.Minute)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"LocalBytes", func() error { _, _, err := n.store.LocalBytes(ctx, top); return err }},
		{"Stat", func() error { _, err := n.store.Stat(ctx, top); return err }},
		{"Fetch", func() error { return n.store.Fetch(ctx, top, FetchOptions{}) }},
		{"Pin", func() error { return n.store.Pin(ctx, top, true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call()
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("%s of a chain 200,000 deep: %v, want ErrTooDeep", tc.name, err)
			}
			if !strings.Contains(err.Error(), "links below the root, more than the 4096 this node follows") {
				t.Fatalf("error %q", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}
	if pins, err := n.store.Pins(ctx); err != nil || len(pins) != 0 {
		t.Fatalf("pins: %v %v", pins, err)
	}
}

// A fetch over the network stops at the depth bound too, and a DAG of more
// blocks than MaxDAGBlocks fails with ErrTooManyBlocks in every walk.
func TestDAGBoundsSmall(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{maxDepth: 16, maxBlocks: 50})
	prov, fetcher := nodes[0], nodes[1]
	top, chain := deepChain(40)
	putAll(t, prov.store, chain)
	ctx := testCtx(t, time.Minute)
	if err := fetcher.store.Fetch(ctx, top, FetchOptions{Providers: []peer.AddrInfo{prov.info()}}); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("fetch of a chain 40 deep with a bound of 16: %v", err)
	}
	if _, _, err := prov.store.LocalBytes(ctx, top); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("local bytes of a chain 40 deep with a bound of 16: %v", err)
	}

	wide, blks, _ := lyingFile(t, 60, 16, false)
	putAll(t, prov.store, blks)
	if err := fetcher.store.Fetch(ctx, wide, FetchOptions{Providers: []peer.AddrInfo{prov.info()}}); !errors.Is(err, ErrTooManyBlocks) {
		t.Fatalf("fetch of 61 blocks with a bound of 50: %v", err)
	}
	if _, err := prov.store.Stat(ctx, wide); !errors.Is(err, ErrTooManyBlocks) {
		t.Fatalf("stat of 61 blocks with a bound of 50: %v", err)
	}
	// Within the bounds, the same walks succeed.
	okTop, okChain := deepChain(16)
	putAll(t, prov.store, okChain)
	if err := fetcher.store.Fetch(ctx, okTop, FetchOptions{Providers: []peer.AddrInfo{prov.info()}}); err != nil {
		t.Fatalf("fetch of a chain 16 deep: %v", err)
	}
	if st, err := fetcher.store.Stat(ctx, okTop); err != nil || !st.Local || st.Blocks != 16 {
		t.Fatalf("stat of a chain 16 deep: %+v %v", st, err)
	}
}
