package content

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	basicnode "github.com/ipld/go-ipld-prime/node/basic"
	mh "github.com/multiformats/go-multihash"
)

// cidOf is the CIDv1 of b as a raw block.
func cidOf(tb testing.TB, b []byte) cid.Cid {
	tb.Helper()
	h, err := mh.Sum(b, mh.SHA2_256, -1)
	if err != nil {
		tb.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

func TestParseCID(t *testing.T) {
	good := "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
	tests := []struct {
		in      string
		wantErr string
	}{
		{good, ""},
		{"  /ipfs/" + good + "\n", ""},
		{"QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", ""},
		{"xyz", `invalid CID "xyz": `},
		{"", `invalid CID "": empty`},
		{"/ipfs/", `invalid CID "/ipfs/": empty`},
		{good[:20], `invalid CID "` + good[:20] + `"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseCID(tc.in)
			if tc.wantErr == "" {
				if err != nil || !c.Defined() {
					t.Fatalf("ParseCID(%q) = %v, %v", tc.in, c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseCID(%q) error %v, want it to contain %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestParseChunker(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "size-262144", true},
		{"default", "size-262144", true},
		{"size-1048576", "size-1048576", true},
		{"size-1", "size-1", true},
		{"size-0", "", false},
		{"size--5", "", false},
		{"size-+5", "", false},
		{"size-3000000", "", false},
		{"size-12x", "", false},
		{"size", "", false},
		{"rabin", "", false},
		{"rabin-262144", "rabin-87381-262144-393216", true},
		{"rabin-16-32-64", "rabin-16-32-64", true},
		{"rabin-min:16-avg:32-max:64", "rabin-16-32-64", true},
		{"rabin-32-16-64", "", false},
		{"rabin-avg:16-min:32-max:64", "", false},
		{"buzhash", "buzhash", true},
		{"buzhash-1", "", false},
		{"fastcdc", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseChunker(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseChunker(%q) error %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), `invalid chunker "`+tc.in+`"`) && tc.in != "" {
					t.Errorf("error %q does not name the input", err)
				}
				return
			}
			if c.String() != tc.want {
				t.Errorf("ParseChunker(%q) = %s, want %s", tc.in, c, tc.want)
			}
		})
	}
}

// TestAddKuboCIDs checks import CIDs against values computed by kubo
// v0.43.1 (`ipfs add` with the flags in the table) on the same bytes, so
// that CID compatibility is tested even where kubo is not installed.
// kubo_test.go recomputes them against a live kubo.
func TestAddKuboCIDs(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	for _, g := range kuboGolden {
		t.Run(g.name, func(t *testing.T) {
			if g.want == "" {
				t.Skip("no golden value recorded")
			}
			c := addBytes(t, s, goldenData(g.data), g.opts)
			if c.String() != g.want {
				t.Errorf("CID %s, kubo gives %s (kubo ipfs add %s)", c, g.want, strings.Join(g.kuboArgs, " "))
			}
		})
	}
}

// TestAddKuboDirCIDs checks directory CIDs (basic and HAMT-sharded, with
// symlinks and empty directories) against kubo v0.43.1's `ipfs add -r`.
func TestAddKuboDirCIDs(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	dirs := goldenDirs(t)
	for _, set := range kuboOptionSets {
		for _, d := range dirs {
			name := set.name + "/" + d.name
			t.Run(name, func(t *testing.T) {
				want := kuboGoldenDirCIDs[name]
				if want == "" {
					t.Skip("no golden value recorded")
				}
				node, err := OpenPath(d.path, false)
				if err != nil {
					t.Fatal(err)
				}
				c, err := s.Add(testCtx(t, time.Minute), node, set.opts)
				if err != nil {
					t.Fatal(err)
				}
				if c.String() != want {
					t.Errorf("CID %s, kubo gives %s (kubo ipfs add -r %s)", c, want, strings.Join(set.kuboArgs, " "))
				}
			})
		}
	}
}

func TestAddOptionsInvalid(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	for name, o := range map[string]AddOptions{
		"cid version 2": {CIDVersion: new(2)},
		"bad chunker":   {Chunker: "size-x"},
		"max links 1":   {MaxLinks: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Add(testCtx(t, time.Minute), files.NewBytesFile([]byte("x")), o); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestAddProgress(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	var last int64
	data := randBytes(3, 3<<20+5)
	_, err := s.Add(testCtx(t, time.Minute), files.NewBytesFile(data), AddOptions{
		Progress: func(n int64) {
			if n < last {
				t.Errorf("progress went back from %d to %d", last, n)
			}
			last = n
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(data)) {
		t.Errorf("last progress %d, want %d", last, len(data))
	}
}

func TestWriteToRefusesExisting(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	data := []byte("new content")
	c := addBytes(t, s, data, AddOptions{Pin: true})
	ctx := testCtx(t, time.Minute)
	dir := t.TempDir()

	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(filepath.Join(full, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := s.WriteTo(ctx, c, full, false)
	if !errors.Is(err, ErrPathExists) {
		t.Fatalf("write over a non-empty directory: %v, want ErrPathExists", err)
	}
	if _, err := os.Stat(filepath.Join(full, "keep")); err != nil {
		t.Fatalf("refused write touched the directory: %v", err)
	}
	oldFile := filepath.Join(dir, "old.txt")
	if err := os.WriteFile(oldFile, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTo(ctx, c, oldFile, false); !errors.Is(err, ErrPathExists) {
		t.Fatalf("write over a non-empty file: %v, want ErrPathExists", err)
	}

	// force replaces; empty destinations need no force.
	if err := s.WriteTo(ctx, c, full, true); err != nil {
		t.Fatalf("forced write: %v", err)
	}
	if got, _ := os.ReadFile(full); !bytes.Equal(got, data) {
		t.Fatalf("forced write left %q", got)
	}
	emptyDir := filepath.Join(dir, "emptydir")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTo(ctx, c, emptyDir, false); err != nil {
		t.Fatalf("write over an empty directory: %v", err)
	}
	if err := s.WriteTo(ctx, c, filepath.Join(dir, "new", "nested", "f"), false); err != nil {
		t.Fatalf("write with missing parents: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*shoal-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestGCKeepsPinned: GC removes an unpinned tree and keeps a pinned one
// fully readable with no network; Config.OnUnpin hears of each unpin.
func TestGCKeepsPinned(t *testing.T) {
	var heard []cid.Cid
	n := newTestNode(t, testOpts{noRouter: true, onUnpin: func(c cid.Cid) { heard = append(heard, c) }})
	s := n.store
	ctx := testCtx(t, time.Minute)
	src := makeTree(t)
	pinnedTree, err := OpenPath(src, false)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := s.Add(ctx, pinnedTree, AddOptions{Pin: true})
	if err != nil {
		t.Fatal(err)
	}
	unpinnedData := randBytes(99, 2<<20)
	unpinned := addBytes(t, s, unpinnedData, AddOptions{})
	direct := addBytes(t, s, []byte("direct"), AddOptions{})
	if err := s.Pin(ctx, direct, false); err != nil {
		t.Fatal(err)
	}
	// A pinned file shares blocks with the unpinned one: shared blocks stay.
	shared := addBytes(t, s, unpinnedData[:1<<20], AddOptions{Pin: true})

	removed, err := s.GC(ctx)
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if removed == 0 {
		t.Error("gc removed nothing")
	}
	if s.Has(ctx, unpinned) {
		t.Error("unpinned root survived GC")
	}
	if held, _, err := s.LocalBytes(ctx, unpinned); err != nil || held != 0 {
		t.Errorf("unpinned DAG: held %d, %v", held, err)
	}
	for _, c := range []cid.Cid{pinned, direct, shared} {
		st, err := s.Stat(ctx, c)
		if err != nil || !st.Local {
			t.Errorf("pinned %s after GC: %+v, %v", c, st, err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := s.WriteTo(ctx, pinned, out, false); err != nil {
		t.Fatal(err)
	}
	diffTrees(t, src, out)
	if got := catAll(t, ctx, s, shared); !bytes.Equal(got, unpinnedData[:1<<20]) {
		t.Error("shared file differs after GC")
	}
	if removed2, err := s.GC(ctx); err != nil || removed2 != 0 {
		t.Errorf("second gc removed %d, %v", removed2, err)
	}

	// Unpinning makes the tree collectable.
	if err := s.Unpin(ctx, pinned); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(ctx, pinned); !errors.Is(err, ErrNotPinned) {
		t.Errorf("second unpin: %v, want ErrNotPinned", err)
	}
	if !slices.Equal(heard, []cid.Cid{pinned}) {
		t.Errorf("OnUnpin heard %v, want %s once (the second unpin failed)", heard, pinned)
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Has(ctx, pinned) {
		t.Error("unpinned tree survived GC")
	}
	if !s.Has(ctx, direct) || !s.Has(ctx, shared) {
		t.Error("GC removed a pinned block")
	}
}

// TestReopen: a Store reopened on the same datastore keeps pins and blocks.
func TestReopen(t *testing.T) {
	n := newTestNode(t, testOpts{noRouter: true})
	data := randBytes(5, 1<<20+3)
	c := addBytes(t, n.store, data, AddOptions{Pin: true})
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := n.store.Pins(testCtx(t, time.Minute)); !errors.Is(err, ErrClosed) {
		t.Errorf("pins after close: %v", err)
	}
	// Close and reopen the datastore too, as a restarted daemon would.
	if err := n.ds.Close(); err != nil {
		t.Fatal(err)
	}
	ds, err := pebbledsOpen(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	n.ds = ds
	n.open(t, testOpts{noRouter: true})
	ctx := testCtx(t, time.Minute)
	pins, err := n.store.Pins(ctx)
	if err != nil || len(pins) != 1 || pins[0].CID != c || !pins[0].Recursive {
		t.Fatalf("pins after reopen: %v, %v", pins, err)
	}
	if got := catAll(t, ctx, n.store, c); !bytes.Equal(got, data) {
		t.Fatal("content differs after reopen")
	}
	if removed, err := n.store.GC(ctx); err != nil || removed != 0 {
		t.Fatalf("gc after reopen removed %d, %v", removed, err)
	}
}

// TestLocalBytes: a DAG with blocks missing reports what is held, Stat says
// it is not local, and Fetch completes it.
func TestLocalBytes(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	a, b := nodes[0], nodes[1]
	ctx := testCtx(t, time.Minute)
	data := randBytes(11, 4<<20)
	c := addBytes(t, a.store, data, AddOptions{Pin: true})

	held, total, err := b.store.LocalBytes(ctx, c)
	if err != nil || held != 0 || total != -1 {
		t.Fatalf("before fetch: held %d total %d err %v", held, total, err)
	}
	if err := b.store.Fetch(ctx, c, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	held, total, err = b.store.LocalBytes(ctx, c)
	if err != nil || held != total || total < int64(len(data)) {
		t.Fatalf("after fetch: held %d total %d err %v", held, total, err)
	}
	// Drop three leaves (B has not pinned the DAG).
	root, err := b.store.offline.Get(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	links := root.Links()
	for _, l := range links[:3] {
		if err := b.store.bs.DeleteBlock(ctx, l.Cid); err != nil {
			t.Fatal(err)
		}
	}
	held2, total2, err := b.store.LocalBytes(ctx, c)
	if err != nil || total2 != total || held2 != total-3*(256<<10) {
		t.Fatalf("with 3 leaves missing: held %d total %d err %v", held2, total2, err)
	}
	st, err := b.store.Stat(ctx, c)
	if err != nil || st.Local || st.LocalBytes != held2 || st.Size != int64(len(data)) {
		t.Fatalf("stat with leaves missing: %+v %v", st, err)
	}
	if b.store.Has(ctx, links[0].Cid) || !b.store.Has(ctx, c) {
		t.Error("Has disagrees with the blockstore")
	}
	if err := b.store.Fetch(ctx, c, FetchOptions{Pin: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := b.store.Stat(ctx, c); err != nil || !st.Local {
		t.Fatalf("stat after refetch: %+v %v", st, err)
	}
	if ok, err := b.store.IsPinned(ctx, c); err != nil || !ok {
		t.Errorf("Fetch with Pin did not pin: %v %v", ok, err)
	}
}

// TestBlocksCBOR: a dag-cbor block (like a job spec) put on A is fetched by
// B with GetBlock, and a recursive pin on B follows its link.
func TestBlocksCBOR(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	a, b := nodes[0], nodes[1]
	ctx := testCtx(t, time.Minute)
	input := randBytes(12, 600<<10)
	inputCID := addBytes(t, a.store, input, AddOptions{Pin: true})

	nd, err := qp.BuildMap(basicnode.Prototype.Any, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "type", qp.String("batch"))
		qp.MapEntry(ma, "input", qp.Link(cidlink.Link{Cid: inputCID}))
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(nd, &buf); err != nil {
		t.Fatal(err)
	}
	h, _ := mh.Sum(buf.Bytes(), mh.SHA2_256, -1)
	blk, err := blocks.NewBlockWithCid(buf.Bytes(), cid.NewCidV1(cid.DagCBOR, h))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.PutBlock(ctx, blk); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Pin(ctx, blk.Cid(), false); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.GetBlock(ctx, blk.Cid())
	if err != nil || !bytes.Equal(got.RawData(), blk.RawData()) {
		t.Fatalf("get block: %v", err)
	}
	st, err := b.store.Stat(ctx, blk.Cid())
	if err != nil || st.Type != TypeOther || st.Local {
		t.Fatalf("stat of spec before its input is local: %+v %v", st, err)
	}
	if err := b.store.Pin(ctx, blk.Cid(), true); err != nil {
		t.Fatal(err)
	}
	if st, err := b.store.Stat(ctx, blk.Cid()); err != nil || !st.Local || st.CumulativeSize != st.LocalBytes {
		t.Fatalf("stat after recursive pin: %+v %v", st, err)
	}
	if got := catAll(t, ctx, b.store, inputCID); !bytes.Equal(got, input) {
		t.Fatal("linked input differs")
	}
	if _, err := b.store.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.store.Has(ctx, inputCID) {
		t.Error("GC removed a block linked from a pinned dag-cbor block")
	}
}

// TestPinsList covers Pin, IsPinned and Pins.
func TestPinsList(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	ctx := testCtx(t, time.Minute)
	r := addBytes(t, s, []byte("recursive"), AddOptions{Pin: true})
	d := addBytes(t, s, []byte("direct"), AddOptions{})
	if err := s.Pin(ctx, d, false); err != nil {
		t.Fatal(err)
	}
	pins, err := s.Pins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 2 || pins[0] != (PinInfo{CID: r, Recursive: true}) || pins[1] != (PinInfo{CID: d}) {
		t.Fatalf("pins %+v", pins)
	}
	if ok, _ := s.IsPinned(ctx, d); !ok {
		t.Error("direct pin not reported")
	}
}

// TestPinDirectOverRecursive: a direct pin of a CID pinned recursively is
// refused with ErrPinnedRecursively (kubo's "already pinned recursively"),
// and the recursive pin stays; a recursive pin of a directly pinned CID
// replaces the direct pin.
func TestPinDirectOverRecursive(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	ctx := testCtx(t, time.Minute)
	r := addBytes(t, s, []byte("recursive"), AddOptions{Pin: true})
	err := s.Pin(ctx, r, false)
	if !errors.Is(err, ErrPinnedRecursively) || !strings.Contains(err.Error(), r.String()+" is already pinned recursively") {
		t.Fatalf("direct pin over a recursive one: %v, want ErrPinnedRecursively naming %s", err, r)
	}
	d := addBytes(t, s, []byte("direct"), AddOptions{})
	if err := s.Pin(ctx, d, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, d, true); err != nil {
		t.Fatalf("recursive pin over a direct one: %v", err)
	}
	pins, err := s.Pins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 2 || pins[0].CID == pins[1].CID || !pins[0].Recursive || !pins[1].Recursive {
		t.Fatalf("pins %+v, want %s and %s recursive only", pins, r, d)
	}
}
