package content

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// gatedStore holds each PutMany until release is closed, and fails the
// first fail of them.
type gatedStore struct {
	blockstore.Blockstore
	release chan struct{}
	started chan struct{}
	fail    atomic.Int32
}

func (g *gatedStore) PutMany(ctx context.Context, bs []blocks.Block) error {
	select {
	case g.started <- struct{}{}:
	default:
	}
	<-g.release
	if g.fail.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return g.Blockstore.PutMany(ctx, bs)
}

// TestWriteBackBackground: a full batch is written in the background while
// the fetch goes on; its blocks stay answerable until written; a failed
// write is reported by the next Put and retried by flush.
func TestWriteBackBackground(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	next := blockstore.NewBlockstore(dssync.MutexWrap(datastore.NewMapDatastore()), blockstore.NoPrefix())
	g := &gatedStore{Blockstore: next, release: make(chan struct{}), started: make(chan struct{}, 1)}
	g.fail.Store(1)
	w := newWriteBack(g)
	var batch []blocks.Block
	for i := range writeBackBlocks {
		batch = append(batch, rawBlock(t, randBytes(uint64(100+i), 100)))
	}
	// Filling a batch returns at once: the write waits in the background.
	if err := w.PutMany(ctx, batch); err != nil {
		t.Fatal(err)
	}
	<-g.started
	for _, b := range batch[:3] {
		if ok, _ := w.Has(ctx, b.Cid()); !ok {
			t.Fatal("a block being written is not answered")
		}
		if got, err := w.Get(ctx, b.Cid()); err != nil || got.Cid() != b.Cid() {
			t.Fatalf("get of a block being written: %v", err)
		}
	}
	close(g.release) // the write fails: "disk full"
	// Wait for the background write to end: it gives its token back.
	w.writing <- struct{}{}
	<-w.writing
	err := w.Put(ctx, rawBlock(t, randBytes(99, 100)))
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("put after a failed write: %v, want disk full", err)
	}
	if ok, _ := w.Has(ctx, batch[0].Cid()); !ok {
		t.Fatal("a block whose write failed is lost")
	}
	if err := w.flush(ctx); err != nil {
		t.Fatalf("flush retrying the failed write: %v", err)
	}
	for _, b := range batch {
		if ok, _ := next.Has(ctx, b.Cid()); !ok {
			t.Fatal("a block of the failed write is not stored after flush")
		}
	}
}
