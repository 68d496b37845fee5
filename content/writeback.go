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
// blocks one at a time). A full batch is written in the background while
// the next one fills, so receiving does not wait for the disk; a second
// full batch waits for the first (at most two batches are held). Buffered
// blocks are answered by Get, Has and GetSize, so the fetch itself sees
// them at once; other readers of the store see them after their batch and
// always before Fetch syncs and returns (flush). Nothing is acknowledged
// before that sync, so the durability promise is unchanged: a kill -9
// during a fetch loses unpinned blocks only.
type writeBack struct {
	blockstore.Blockstore // the store's blockstore (next)

	mu      sync.Mutex
	pending map[string]blocks.Block // by multihash, as the blockstore keys
	order   []blocks.Block          // not yet handed to a write
	bytes   int
	err     error // of a background write, returned by the next Put or flush

	writing chan struct{} // holds a token while a batch is being written
}

func newWriteBack(next blockstore.Blockstore) *writeBack {
	return &writeBack{Blockstore: next, pending: map[string]blocks.Block{}, writing: make(chan struct{}, 1)}
}

func (w *writeBack) Put(ctx context.Context, b blocks.Block) error {
	return w.PutMany(ctx, []blocks.Block{b})
}

func (w *writeBack) PutMany(ctx context.Context, bs []blocks.Block) error {
	w.mu.Lock()
	if err := w.err; err != nil {
		w.mu.Unlock()
		return err
	}
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
	if !full {
		return nil
	}
	select {
	case w.writing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	batch := w.take()
	go func() {
		defer func() { <-w.writing }()
		w.write(context.WithoutCancel(ctx), batch)
	}()
	return nil
}

// take removes the blocks not yet handed to a write from the queue; they
// stay answerable until written.
func (w *writeBack) take() []blocks.Block {
	w.mu.Lock()
	defer w.mu.Unlock()
	batch := w.order
	w.order, w.bytes = nil, 0
	return batch
}

// write stores batch in next. On failure the blocks go back to the queue
// for the next try and the error is kept for the next Put or flush.
func (w *writeBack) write(ctx context.Context, batch []blocks.Block) error {
	if len(batch) == 0 {
		return nil
	}
	err := w.Blockstore.PutMany(ctx, batch)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.order = append(batch, w.order...)
		for _, b := range batch {
			w.bytes += len(b.RawData())
		}
		if w.err == nil {
			w.err = err
		}
		return err
	}
	for _, b := range batch {
		delete(w.pending, string(b.Cid().Hash()))
	}
	return nil
}

// flush waits for the write in progress and writes every buffered block to
// next; it returns the first error of a write since the last flush.
func (w *writeBack) flush(ctx context.Context) error {
	w.writing <- struct{}{}
	defer func() { <-w.writing }()
	w.mu.Lock()
	w.err = nil // the failed blocks are back in the queue: this write retries them
	w.mu.Unlock()
	return w.write(ctx, w.take())
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
