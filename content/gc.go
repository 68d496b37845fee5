package content

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// GC removes every block that is not reachable from a recursive pin and is
// not directly pinned, and returns how many it removed. It holds the GC lock
// for its whole run, so it waits for adds, fetches and pins in progress and
// they wait for it. If a recursively pinned DAG is not complete locally
// (which only damage to the datastore can cause), GC removes nothing and
// fails: the set of blocks to keep would not be known.
func (s *Store) GC(ctx context.Context) (removed int, err error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	unlock := s.bs.GCLock(ctx)
	defer unlock.Unlock(ctx)
	start := time.Now()

	keep, err := s.liveSet(ctx)
	if err != nil {
		return 0, fmt.Errorf("content: gc: %w", err)
	}

	keys, keysErr, err := s.allKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("content: gc: list blocks: %w", err)
	}
	var doomed []cid.Cid
	for c := range keys {
		if _, ok := keep[string(c.Hash())]; !ok {
			doomed = append(doomed, c)
		}
	}
	if err := keysErr(); err != nil {
		return 0, fmt.Errorf("content: gc: list blocks: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("content: gc: %w", err)
	}
	for _, c := range doomed {
		if err := s.bs.DeleteBlock(ctx, c); err != nil {
			return removed, fmt.Errorf("content: gc: delete %s: %w", c, err)
		}
		removed++
	}
	if err := s.syncBlocks(ctx); err != nil {
		return removed, fmt.Errorf("content: gc: sync: %w", err)
	}
	s.log.Info("garbage collected", "removed", removed, "kept", len(keep), "took", time.Since(start))
	return removed, nil
}

// liveSet returns the multihashes of every block that pins keep.
func (s *Store) liveSet(ctx context.Context) (map[string]struct{}, error) {
	pins, err := s.Pins(ctx)
	if err != nil {
		return nil, err
	}
	keep := make(map[string]struct{})
	for _, p := range pins {
		if !p.Recursive {
			keep[string(p.CID.Hash())] = struct{}{}
			continue
		}
		if err := s.markLive(ctx, p.CID, keep); err != nil {
			return nil, fmt.Errorf("pinned DAG %s: %w", p.CID, err)
		}
	}
	return keep, nil
}

// markLive adds the DAG under root to keep, over the blockstore only.
// Subtrees already in keep are not walked again.
func (s *Store) markLive(ctx context.Context, root cid.Cid, keep map[string]struct{}) error {
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := string(c.Hash())
		if _, ok := keep[k]; ok {
			continue
		}
		if c.Prefix().Codec == cid.Raw {
			// Raw blocks have no links; only their presence matters.
			ok, err := s.bs.Has(ctx, c)
			if err != nil {
				return fmt.Errorf("read %s: %w", c, err)
			}
			if !ok {
				return fmt.Errorf("block %s missing: %w", c, ErrNotFound)
			}
			keep[k] = struct{}{}
			continue
		}
		blk, err := s.bs.Get(ctx, c)
		if ipld.IsNotFound(err) {
			return fmt.Errorf("block %s missing: %w", c, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", c, err)
		}
		nd, err := s.decode(ctx, blk)
		if err != nil {
			return fmt.Errorf("decode %s: %w", c, err)
		}
		keep[k] = struct{}{}
		for _, l := range nd.Links() {
			stack = append(stack, l.Cid)
		}
	}
	return nil
}

// allKeys lists every block's CID, with a check for errors that ended the
// listing early.
func (s *Store) allKeys(ctx context.Context) (<-chan cid.Cid, func() error, error) {
	if e, ok := s.base.(blockstore.AllKeysChanWithErrer); ok {
		return e.AllKeysChanWithErr(ctx)
	}
	ch, err := s.base.AllKeysChan(ctx)
	return ch, func() error { return nil }, err
}
