package content

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// Bounds of every DAG walk and fetch. A DAG comes from peers the node does
// not control, so its shape is bounded like any other untrusted input.
const (
	// MaxBlockSize is the largest block Fetch accepts from a peer: 2 MiB,
	// the limit of the bitswap spec (kubo's `block put` refuses blocks over
	// 1 MiB by default; this repo's largest chunker makes 1 MiB blocks).
	// boxo's bitswap reads messages of up to 4 MiB, so a larger block can
	// arrive; it is refused with a *TooLargeError and never stored.
	MaxBlockSize = 2 << 20
	// DefaultMaxDAGDepth is how many links below its root a walk follows
	// (Config.MaxDAGDepth). 4096 is far beyond any file tree: a balanced
	// UnixFS file of 16 TiB is 5 levels deep, a HAMT directory adds at most
	// 8 per directory level, and a 4096-byte path holds at most 2048
	// nested one-letter directories. A chain deeper than that is refused
	// with ErrTooDeep.
	DefaultMaxDAGDepth = 4096
	// DefaultMaxDAGBlocks is how many distinct blocks one walk visits
	// (Config.MaxDAGBlocks): 4 Mi blocks, 1 TiB in 256 KiB chunks or 4 TiB
	// in 1 MiB chunks. A walk's memory grows by about 100 bytes per block
	// (the set of CIDs seen), so the bound keeps one walk under ~400 MB.
	DefaultMaxDAGBlocks = 4 << 20
)

// maxDepth is the depth bound of this Store's walks.
func (s *Store) maxDepth() int {
	if s.cfg.MaxDAGDepth > 0 {
		return s.cfg.MaxDAGDepth
	}
	return DefaultMaxDAGDepth
}

// maxBlocks is the block bound of this Store's walks.
func (s *Store) maxBlocks() int64 {
	if s.cfg.MaxDAGBlocks > 0 {
		return s.cfg.MaxDAGBlocks
	}
	return DefaultMaxDAGBlocks
}

// tooDeep is the error of a walk that reached c at depth.
func tooDeep(c cid.Cid, depth, limit int) error {
	return fmt.Errorf("%w: block %s is %d links below the root, more than the %d this node follows; such DAGs are refused", ErrTooDeep, c, depth, limit)
}

// tooMany is the error of a walk that met more than limit blocks.
func tooMany(limit int64) error {
	return fmt.Errorf("%w: more than %d distinct blocks, the most one walk visits; such DAGs are refused", ErrTooManyBlocks, limit)
}

// fetchStore is the blockstore one Fetch writes received blocks into (the
// block service stores what bitswap receives through it). It refuses a
// block over MaxBlockSize and, once the bytes received would pass max (0:
// no bound), every further block: what is refused is never stored, so a
// fetch stores at most max bytes. Each refusal is reported to fail once.
type fetchStore struct {
	blockstore.Blockstore
	max      int64
	name     string
	received atomic.Int64
	fail     func(error)
	// total, when set, also counts the bytes received (the Store's).
	total *atomic.Int64
}

func (b *fetchStore) admit(blk blocks.Block) error {
	n := int64(len(blk.RawData()))
	if n > MaxBlockSize {
		err := fmt.Errorf("block %s: %w", blk.Cid(), &TooLargeError{Limit: MaxBlockSize, Got: n, Block: true})
		b.fail(err)
		return err
	}
	got := b.received.Add(n)
	if b.total != nil {
		b.total.Add(n)
	}
	if b.max > 0 && got > b.max {
		err := &TooLargeError{Limit: b.max, Name: b.name, Got: got - n}
		b.fail(err)
		return err
	}
	return nil
}

func (b *fetchStore) Put(ctx context.Context, blk blocks.Block) error {
	if err := b.admit(blk); err != nil {
		return err
	}
	return b.Blockstore.Put(ctx, blk)
}

func (b *fetchStore) PutMany(ctx context.Context, bs []blocks.Block) error {
	for _, blk := range bs {
		if err := b.admit(blk); err != nil {
			return err
		}
	}
	return b.Blockstore.PutMany(ctx, bs)
}
