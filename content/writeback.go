package content

import (
	"context"
	"sync"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// Write-back of fetched blocks (see fetchStore).
const (
	// writeBackBytes is how many bytes of received blocks one Fetch keeps
	// before it writes them to the datastore in one batch.
	writeBackBytes = 8 << 20
	// writeBackBlocks bounds the blocks of one batch.
	writeBackBlocks = 64
)

// writeBack buffers the blocks one Fetch receives and writes them to next
// in batches (PutMany: one datastore batch, one WAL record, instead of a
// write and a presence read per block; boxo's block service puts fetched
// blocks one at a time). Buffered blocks are answered by Get, Has and
// GetSize, so the fetch itself sees them at once; other readers of the
// store see them after the batch, at most writeBackBytes later, and always
// before Fetch syncs and returns (flush). Nothing is acknowledged before
// that sync, so the durability promise is unchanged: a kill -9 during a
// fetch loses unpinned blocks only.
type writeBack struct {
	blockstore.Blockstore // the store's blockstore (next)

	mu      sync.Mutex
	pending map[string]blocks.Block // by multihash, as the blockstore keys
	order   []blocks.Block
	bytes   int
	flushMu sync.Mutex // one batch at a time, in order
}

func newWriteBack(next blockstore.Blockstore) *writeBack {
	return &writeBack{Blockstore: next, pending: map[string]blocks.Block{}}
}

func (w *writeBack) Put(ctx context.Context, b blocks.Block) error {
	return w.PutMany(ctx, []blocks.Block{b})
}

func (w *writeBack) PutMany(ctx context.Context, bs []blocks.Block) error {
	w.mu.Lock()
	for _, b := range bs {
		k := string(b.Cid().Hash())
		if _, ok := w.pending[k]; ok {
			continue
		}
		w.pending[k] = b
		w.order = append(w.order, b)
		w.bytes += len(b.RawData())
	}
	full := w.bytes >= writeBackBytes || len(w.order) >= writeBackBlocks
	w.mu.Unlock()
	if full {
		return w.flush(ctx)
	}
	return nil
}

// flush writes every buffered block to next; the blocks stay answerable
// from the buffer until they are there.
func (w *writeBack) flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	batch := w.order
	w.order, w.bytes = nil, 0
	w.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := w.Blockstore.PutMany(ctx, batch); err != nil {
		w.mu.Lock()
		w.order = append(batch, w.order...) // kept for the next try
		for _, b := range batch {
			w.bytes += len(b.RawData())
		}
		w.mu.Unlock()
		return err
	}
	w.mu.Lock()
	for _, b := range batch {
		delete(w.pending, string(b.Cid().Hash()))
	}
	w.mu.Unlock()
	return nil
}

func (w *writeBack) buffered(c cid.Cid) (blocks.Block, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.pending[string(c.Hash())]
	return b, ok
}

func (w *writeBack) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if b, ok := w.buffered(c); ok {
		if b.Cid().Equals(c) {
			return b, nil
		}
		return blocks.NewBlockWithCid(b.RawData(), c)
	}
	return w.Blockstore.Get(ctx, c)
}

func (w *writeBack) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if _, ok := w.buffered(c); ok {
		return true, nil
	}
	return w.Blockstore.Has(ctx, c)
}

func (w *writeBack) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if b, ok := w.buffered(c); ok {
		return len(b.RawData()), nil
	}
	return w.Blockstore.GetSize(ctx, c)
}
