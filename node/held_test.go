package node

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/content"
)

// heldImports is bounded (the least recently imported URL goes first),
// and forgets every URL of an unpinned root.
func TestHeldImports(t *testing.T) {
	roots := make([]cid.Cid, 4)
	for i := range roots {
		roots[i] = jobCID(t, fmt.Sprint("root ", i))
	}
	url := func(i int) string { return fmt.Sprintf("https://example.org/%d", i) }
	h := newHeldImports(3)
	for i := range 3 {
		h.put(url(i), roots[i], int64(100+i))
	}
	h.put(url(0), roots[0], 100) // imported again: now the most recent
	h.put(url(3), roots[3], 103) // over the bound: url(1) goes
	if c, _ := h.get(url(1)); c.Defined() {
		t.Fatalf("url 1 still held past the bound (%s)", c)
	}
	for _, i := range []int{0, 2, 3} {
		if c, size := h.get(url(i)); c != roots[i] || size != int64(100+i) {
			t.Fatalf("url %d: %s %d, want %s %d", i, c, size, roots[i], 100+i)
		}
	}
	h.put(url(9), roots[2], 102) // the same bytes at another URL
	h.forget(roots[2])
	for _, u := range []string{url(2), url(9)} {
		if c, _ := h.get(u); c.Defined() {
			t.Fatalf("%s still held after its root was unpinned", u)
		}
	}
	h.drop(url(0))
	if c, _ := h.get(url(0)); c.Defined() || h.len() != 1 {
		t.Fatalf("after drop: %s, %d held, want only url 3", c, h.len())
	}
	// A hostile URL costs what any other does: the key is its hash.
	long := "https://example.org/" + string(bytes.Repeat([]byte("a"), jobspec.MaxURLLen))
	h.put(long, roots[1], 1)
	if c, _ := h.get(long); c != roots[1] {
		t.Fatalf("long url: %s", c)
	}
}

// A node's import of a url input is what its bids count as local: after
// an import with an ETag, from the datastore record at start, and never
// once its root is unpinned (nor for an import without validators, which
// would be downloaded again, nor for s3).
func TestHeldImportFollowsPins(t *testing.T) {
	n := testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := newRemote(n, t.TempDir(), slog.New(slog.NewTextHandler(t.Output(), nil)))
	add := func(s string) cid.Cid {
		c, err := n.Content.Add(ctx, files.NewBytesFile([]byte(s)), content.AddOptions{Pin: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const u, plain = "https://example.org/corpus.txt", "https://example.org/no-etag"
	in := jobspec.Input{URL: u, Path: "/in"}
	root := add("corpus")
	imp := market.Imported{CID: root, Size: 6, ETag: `"v1"`}
	r.remember(ctx, u, imp)
	r.hold(ctx, in, imp)
	if c, size := r.HeldImport(in); c != root || size != 6 {
		t.Fatalf("after the import: %s %d, want %s 6", c, size, root)
	}
	// Without validators the next job downloads it again: not local.
	other := market.Imported{CID: add("other"), Size: 5}
	r.remember(ctx, plain, other)
	r.hold(ctx, jobspec.Input{URL: plain}, other)
	if c, _ := r.HeldImport(jobspec.Input{URL: plain}); c.Defined() {
		t.Fatalf("an import without ETag counts as local (%s)", c)
	}
	s3 := jobspec.Input{S3: &jobspec.S3Object{Bucket: "datasets", Key: "k"}}
	r.remember(ctx, s3.Source(), market.Imported{CID: root, Size: 6, ETag: `"v1"`})
	r.hold(ctx, s3, market.Imported{CID: root, Size: 6, ETag: `"v1"`})
	if c, _ := r.HeldImport(s3); c.Defined() {
		t.Fatalf("an s3 import counts as local (%s)", c)
	}

	// A restarted node knows its imports from their records.
	n.held.drop(u)
	if err := r.loadHeld(ctx); err != nil {
		t.Fatal(err)
	}
	if c, size := r.HeldImport(in); c != root || size != 6 || n.held.len() != 1 {
		t.Fatalf("after loadHeld: %s %d (%d held), want only %s 6", c, size, n.held.len(), root)
	}

	// Unpinned: no longer local, and not loaded again.
	if err := n.Content.Unpin(ctx, root); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.HeldImport(in); c.Defined() {
		t.Fatalf("unpinned import still counts as local (%s)", c)
	}
	if err := r.loadHeld(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.HeldImport(in); c.Defined() {
		t.Fatalf("loadHeld loaded an unpinned import (%s)", c)
	}
}
