package content

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	"github.com/multiformats/go-multihash"
)

// carOf exports the DAG c of s.
func carOf(tb testing.TB, s *Store, c cid.Cid) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := s.ExportCAR(testCtx(tb, time.Minute), c, &buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// handCAR writes a CARv1 with the given roots and blocks, unchecked.
func handCAR(tb testing.TB, roots []cid.Cid, blks ...blocks.Block) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := storage.NewWritable(&buf, roots, carv2.WriteAsCarV1(true), carv2.AllowDuplicatePuts(true))
	if err != nil {
		tb.Fatal(err)
	}
	for _, b := range blks {
		if err := w.Put(context.Background(), b.Cid().KeyString(), b.RawData()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Finalize(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// A DAG exported by one Store and imported by another, not connected, is
// whole and pinned there, and exports to the same bytes.
func TestCARRoundTrip(t *testing.T) {
	a := newTestNode(t, testOpts{noRouter: true}).store
	b := newTestNode(t, testOpts{noRouter: true}).store
	ctx := testCtx(t, time.Minute)
	data := randBytes(7, 3<<20)
	root := addBytes(t, a, data, AddOptions{})
	car := carOf(t, a, root)
	roots, err := b.ImportCAR(ctx, bytes.NewReader(car), CAROptions{Pin: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || !roots[0].Equals(root) {
		t.Fatalf("roots %v, want [%s]", roots, root)
	}
	if ok, err := b.IsPinned(ctx, root); err != nil || !ok {
		t.Fatalf("pinned %v %v", ok, err)
	}
	held, total, err := b.LocalBytes(ctx, root)
	if err != nil || held != total || total < int64(len(data)) {
		t.Fatalf("local %d of %d, %v", held, total, err)
	}
	if again := carOf(t, b, root); !bytes.Equal(again, car) {
		t.Fatal("the imported DAG exports to other bytes")
	}
}

// Each hostile CAR is refused with an error that says why, and pins
// nothing.
func TestImportCARRefuses(t *testing.T) {
	a := newTestNode(t, testOpts{noRouter: true}).store
	root := addBytes(t, a, randBytes(8, 1<<20), AddOptions{})
	good := carOf(t, a, root)
	leaf := blocks.NewBlock([]byte("a leaf"))
	raw := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: -1}
	leafCID, _ := raw.Sum(leaf.RawData())
	leaf, _ = blocks.NewBlockWithCid(leaf.RawData(), leafCID)
	short := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: 10}
	shortCID, err := short.Sum([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	shortBlk, _ := blocks.NewBlockWithCid([]byte("x"), shortCID)
	other, _ := raw.Sum([]byte("not the leaf"))
	lying, _ := blocks.NewBlockWithCid([]byte("a leaf"), other)
	many := make([]cid.Cid, MaxCARRoots+1)
	for i := range many {
		many[i] = leafCID
	}
	cases := []struct {
		name string
		car  []byte
		opts CAROptions
		is   error
		want string
	}{
		{"empty input", nil, CAROptions{}, ErrBadCAR, "header"},
		{"garbage", []byte("\x05hello world"), CAROptions{}, ErrBadCAR, "header"},
		{"truncated", good[:len(good)-100], CAROptions{}, ErrBadCAR, "block"},
		{"no root", handCAR(t, nil, leaf), CAROptions{}, ErrBadCAR, "names no root"},
		{"too many roots", handCAR(t, many, leaf), CAROptions{}, ErrBadCAR, "roots, more than"},
		{"root not in it", handCAR(t, []cid.Cid{other}, leaf), CAROptions{}, ErrBadCAR, "neither in the CAR nor on this node"},
		{"DAG incomplete", handCAR(t, []cid.Cid{root}, mustBlock(t, a, root)), CAROptions{}, ErrBadCAR, "misses"},
		{"block lies about its CID", handCAR(t, []cid.Cid{other}, lying), CAROptions{}, ErrBadCAR, "integrity"},
		{"short digest", handCAR(t, []cid.Cid{shortCID}, shortBlk), CAROptions{}, ErrBadCAR, "digest"},
		{"over MaxBytes", good, CAROptions{MaxBytes: 1000, MaxBytesName: "test.limit"}, ErrTooLarge, "test.limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestNode(t, testOpts{noRouter: true}).store
			ctx := testCtx(t, time.Minute)
			tc.opts.Pin = true
			_, err := b.ImportCAR(ctx, bytes.NewReader(tc.car), tc.opts)
			if !errors.Is(err, tc.is) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("import: %v, want %v saying %q", err, tc.is, tc.want)
			}
			t.Logf("refusal: %v", err)
			pins, err := b.Pins(ctx)
			if err != nil || len(pins) != 0 {
				t.Fatalf("pins after a refused import: %v %v", pins, err)
			}
		})
	}
}

func mustBlock(tb testing.TB, s *Store, c cid.Cid) blocks.Block {
	tb.Helper()
	b, err := s.GetBlock(testCtx(tb, time.Minute), c)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzImportCAR: whatever the bytes, ImportCAR does not panic, fails with
// ErrBadCAR or a bound's error, or returns roots whose DAGs are all local.
func FuzzImportCAR(f *testing.F) {
	s := newTestNode(f, testOpts{noRouter: true, maxBlocks: 1 << 10, maxDepth: 64}).store
	seed := newTestNode(f, testOpts{noRouter: true}).store
	root := addBytes(f, seed, randBytes(9, 600<<10), AddOptions{Chunker: "size-65536"})
	good := carOf(f, seed, root)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xa2, 0x65, 0x72, 0x6f, 0x6f, 0x74, 0x73, 0x80, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := testCtx(t, 30*time.Second)
		roots, err := s.ImportCAR(ctx, bytes.NewReader(b), CAROptions{MaxBytes: 4 << 20})
		if err != nil {
			if !errors.Is(err, ErrBadCAR) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTooManyBlocks) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		if len(roots) == 0 || len(roots) > MaxCARRoots {
			t.Fatalf("%d roots accepted", len(roots))
		}
		for _, c := range roots {
			w, err := s.walkLocal(ctx, c)
			if err != nil || w.root == nil || w.missing != 0 {
				t.Fatalf("root %s accepted but not whole: %+v %v", c, w, err)
			}
		}
	})
}
