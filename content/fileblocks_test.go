package content

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
)

func newFileBlocksTest(t *testing.T) (*fileBlocks, blockstore.Blockstore, string) {
	t.Helper()
	next := blockstore.NewBlockstore(dssync.MutexWrap(datastore.NewMapDatastore()), blockstore.NoPrefix())
	dir := filepath.Join(t.TempDir(), "blocks")
	f, err := newFileBlocks(next, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return f, next, dir
}

func rawBlock(t *testing.T, data []byte) blocks.Block {
	t.Helper()
	b, err := blocks.NewBlockWithCid(data, cidOf(t, data))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFileBlocksSplit: blocks of LargeBlockMin bytes and more become files,
// smaller ones stay in the datastore; both read back, list once, delete.
func TestFileBlocksSplit(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	f, next, _ := newFileBlocksTest(t)
	small := rawBlock(t, randBytes(1, LargeBlockMin-1))
	large := rawBlock(t, randBytes(2, LargeBlockMin))
	larger := rawBlock(t, randBytes(3, 256<<10))
	if err := f.Put(ctx, small); err != nil {
		t.Fatal(err)
	}
	if err := f.PutMany(ctx, []blocks.Block{large, larger}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []blocks.Block{small, large, larger} {
		inFile := len(b.RawData()) >= LargeBlockMin
		if _, err := os.Stat(f.path(b.Cid().Hash())); (err == nil) != inFile {
			t.Errorf("%d-byte block: file exists %v, want %v", len(b.RawData()), err == nil, inFile)
		}
		if ok, _ := next.Has(ctx, b.Cid()); ok == inFile {
			t.Errorf("%d-byte block: in the datastore %v, want %v", len(b.RawData()), ok, !inFile)
		}
		got, err := f.Get(ctx, b.Cid())
		if err != nil || !bytes.Equal(got.RawData(), b.RawData()) {
			t.Fatalf("get %d-byte block: %v", len(b.RawData()), err)
		}
		if n, err := f.GetSize(ctx, b.Cid()); err != nil || n != len(b.RawData()) {
			t.Errorf("size of %d-byte block: %d, %v", len(b.RawData()), n, err)
		}
		if ok, err := f.Has(ctx, b.Cid()); !ok || err != nil {
			t.Errorf("has %d-byte block: %v, %v", len(b.RawData()), ok, err)
		}
	}
	// A put of a block already there writes nothing new.
	if err := f.Put(ctx, larger); err != nil {
		t.Fatal(err)
	}
	keys := listKeys(t, ctx, f)
	want := []string{string(small.Cid().Hash()), string(large.Cid().Hash()), string(larger.Cid().Hash())}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("listed %d keys, want the 3 blocks once each", len(keys))
	}
	for _, b := range []blocks.Block{small, large, larger} {
		if err := f.DeleteBlock(ctx, b.Cid()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Get(ctx, b.Cid()); !ipld.IsNotFound(err) {
			t.Errorf("get of deleted %d-byte block: %v", len(b.RawData()), err)
		}
	}
	if keys := listKeys(t, ctx, f); len(keys) != 0 {
		t.Errorf("%d keys listed after deleting every block", len(keys))
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
}

// TestFileBlocksDamagedFile: a file whose bytes no longer hash to its name
// (damage on disk, a write torn by a power loss) is never returned: it is
// removed and reads as missing, so a fetch gets the block again.
func TestFileBlocksDamagedFile(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	f, next, dir := newFileBlocksTest(t)
	b := rawBlock(t, randBytes(4, 64<<10))
	if err := f.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	p := f.path(b.Cid().Hash())
	if err := os.Truncate(p, 1000); err != nil {
		t.Fatal(err)
	}
	// A new process (a restarted daemon) has checked nothing yet.
	f2, err := newFileBlocks(next, dir, f.log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f2.Get(ctx, b.Cid()); !ipld.IsNotFound(err) {
		t.Fatalf("get of a damaged file: %v, want not found", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("damaged file left in place: %v", err)
	}
	if ok, _ := f2.Has(ctx, b.Cid()); ok {
		t.Error("has a block whose file was damaged")
	}
	// Written again, it reads back.
	if err := f2.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, err := f2.Get(ctx, b.Cid()); err != nil || !bytes.Equal(got.RawData(), b.RawData()) {
		t.Fatalf("get after rewrite: %v", err)
	}
}

// TestFileBlocksOpen: what a crash left in tmp/ is removed at start, and a
// large block the datastore held from before stays there, readable, listed
// once, and is not copied into a file.
func TestFileBlocksOpen(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	f, next, dir := newFileBlocksTest(t)
	partial := filepath.Join(dir, fileBlockTmp, "put-123")
	if err := os.WriteFile(partial, []byte("half a block"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := rawBlock(t, randBytes(5, 256<<10))
	if err := next.Put(ctx, old); err != nil {
		t.Fatal(err)
	}
	f, err := newFileBlocks(next, dir, f.log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("partial write left in tmp/: %v", err)
	}
	if err := f.Put(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.path(old.Cid().Hash())); !os.IsNotExist(err) {
		t.Errorf("a block held by the datastore was copied into a file: %v", err)
	}
	if got, err := f.Get(ctx, old.Cid()); err != nil || !bytes.Equal(got.RawData(), old.RawData()) {
		t.Fatalf("get of a block held by the datastore: %v", err)
	}
	if keys := listKeys(t, ctx, f); len(keys) != 1 {
		t.Errorf("listed %d keys, want 1", len(keys))
	}
	if err := f.DeleteBlock(ctx, old.Cid()); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Has(ctx, old.Cid()); ok {
		t.Error("block held by the datastore survived its delete")
	}
}

// TestStoreBlockFiles: through the Store, an added file's blocks are files
// in the block directory, and GC removes them once unpinned.
func TestStoreBlockFiles(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	n := newTestNode(t, testOpts{noRouter: true})
	data := randBytes(6, 1<<20)
	c := addBytes(t, n.store, data, AddOptions{Pin: true})
	if files := blockFiles(t, filepath.Join(n.dir, "blocks")); files != 4 {
		t.Fatalf("%d block files after adding 1 MiB, want 4 (256 KiB chunks)", files)
	}
	if got := catAll(t, ctx, n.store, c); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if err := n.store.Unpin(ctx, c); err != nil {
		t.Fatal(err)
	}
	if removed, err := n.store.GC(ctx); err != nil || removed != 5 {
		t.Fatalf("gc removed %d, %v; want the 4 leaves and the root", removed, err)
	}
	if files := blockFiles(t, filepath.Join(n.dir, "blocks")); files != 0 {
		t.Fatalf("%d block files after GC", files)
	}
}

func listKeys(t *testing.T, ctx context.Context, f *fileBlocks) []string {
	t.Helper()
	ch, errf, err := f.AllKeysChanWithErr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for c := range ch {
		keys = append(keys, string(c.Hash()))
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// blockFiles counts the block files under dir (tmp/ excluded).
func blockFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == fileBlockTmp {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
