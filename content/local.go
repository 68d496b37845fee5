package content

import (
	"context"
	"fmt"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// LocalBytes reports, without any network access, how many bytes of the
// DAG c are held locally (held) and how large the DAG is (total, from the
// root's recorded cumulative size; when the root records none, total is
// held if the DAG is complete and -1 otherwise). When the root itself is
// not local, held is 0 and total is -1. A block linked twice counts twice,
// so a complete DAG has held == total.
func (s *Store) LocalBytes(ctx context.Context, c cid.Cid) (held, total int64, err error) {
	if err := s.check(); err != nil {
		return 0, 0, err
	}
	w, err := s.walkLocal(ctx, c)
	if err != nil {
		return 0, 0, fmt.Errorf("content: local bytes of %s: %w", c, err)
	}
	if w.root == nil {
		return 0, -1, nil
	}
	total = cumulativeSize(w.root)
	if total < 0 && w.missing == 0 {
		total = w.held
	}
	return w.held, total, nil
}

// Has reports whether the block c is in the local blockstore (no network).
// Use LocalBytes or Stat to learn whether a whole DAG is local.
func (s *Store) Has(ctx context.Context, c cid.Cid) bool {
	if s.check() != nil {
		return false
	}
	ok, err := s.bs.Has(ctx, c)
	return err == nil && ok
}

// PutBlock stores one block (for example a dag-cbor job spec or receipt)
// and tells bitswap peers waiting for it. It is not pinned: pin it
// (directly or recursively) to keep it from GC.
func (s *Store) PutBlock(ctx context.Context, b blocks.Block) error {
	if err := s.check(); err != nil {
		return err
	}
	unlock := s.bs.PinLock(ctx)
	defer unlock.Unlock(ctx)
	if err := s.bserv.AddBlock(ctx, b); err != nil {
		return fmt.Errorf("content: put block %s: %w", b.Cid(), err)
	}
	if err := s.cfg.Datastore.Sync(ctx, blocksNamespace); err != nil {
		return fmt.Errorf("content: put block %s: sync: %w", b.Cid(), err)
	}
	return nil
}

// GetBlock returns block c, from the blockstore or else over bitswap with
// the bounded provider wait of Fetch (and never longer than ctx).
func (s *Store) GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	b, err := s.getBlock(ctx, c, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("content: get block %s: %w", c, err)
	}
	return b, nil
}

// localWalk is the result of walkLocal.
type localWalk struct {
	root    ipld.Node // nil when the root is not local
	held    int64     // bytes held, counting every link occurrence
	blocks  int64     // distinct blocks held
	missing int64     // distinct blocks missing
}

// subtree memoizes one node's result during walkLocal.
type subtree struct {
	held     int64
	complete bool
}

// walkLocal walks the DAG c over the blockstore only.
func (s *Store) walkLocal(ctx context.Context, c cid.Cid) (localWalk, error) {
	var w localWalk
	memo := make(map[cid.Cid]subtree)
	var walk func(c cid.Cid, depth int) (subtree, error)
	walk = func(c cid.Cid, depth int) (subtree, error) {
		if st, ok := memo[c]; ok {
			return st, nil
		}
		if err := ctx.Err(); err != nil {
			return subtree{}, err
		}
		var st subtree
		if c.Prefix().Codec == cid.Raw && depth > 0 {
			// A raw block has no links: its size is all we need.
			n, err := s.bs.GetSize(ctx, c)
			switch {
			case ipld.IsNotFound(err):
				w.missing++
			case err != nil:
				return st, fmt.Errorf("read %s: %w", c, err)
			default:
				w.blocks++
				st = subtree{held: int64(n), complete: true}
			}
			memo[c] = st
			return st, nil
		}
		blk, err := s.bs.Get(ctx, c)
		if ipld.IsNotFound(err) {
			w.missing++
			memo[c] = st
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("read %s: %w", c, err)
		}
		nd, err := s.decode(ctx, blk)
		if err != nil {
			return st, fmt.Errorf("decode %s: %w", c, err)
		}
		if depth == 0 {
			w.root = nd
		}
		w.blocks++
		st = subtree{held: int64(len(blk.RawData())), complete: true}
		for _, l := range nd.Links() {
			sub, err := walk(l.Cid, depth+1)
			if err != nil {
				return st, err
			}
			st.held += sub.held
			st.complete = st.complete && sub.complete
		}
		memo[c] = st
		return st, nil
	}
	st, err := walk(c, 0)
	if err != nil {
		return w, err
	}
	w.held = st.held
	return w, nil
}
