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
	if err := s.syncBlocks(ctx); err != nil {
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

// localFrame is a node of walkLocal's explicit stack whose links are being
// walked.
type localFrame struct {
	c     cid.Cid
	links []*ipld.Link
	next  int // index of the next link to walk
	st    subtree
}

// walkLocal walks the DAG c over the blockstore only, depth first with an
// explicit stack (a Go stack overflow is fatal, so no walk recurses per
// level). It fails with ErrTooDeep past Config.MaxDAGDepth levels and with
// ErrTooManyBlocks past Config.MaxDAGBlocks distinct blocks.
func (s *Store) walkLocal(ctx context.Context, c cid.Cid) (localWalk, error) {
	var w localWalk
	maxDepth, maxBlocks := s.maxDepth(), s.maxBlocks()
	memo := make(map[cid.Cid]subtree)
	// open reads c, found depth links below the root: it returns the
	// result of a block without links (or missing), or a frame to walk.
	open := func(c cid.Cid, depth int) (subtree, *localFrame, error) {
		if err := ctx.Err(); err != nil {
			return subtree{}, nil, err
		}
		if w.blocks+w.missing >= maxBlocks {
			return subtree{}, nil, tooMany(maxBlocks)
		}
		if c.Prefix().Codec == cid.Raw && depth > 0 {
			// A raw block has no links: its size is all we need.
			n, err := s.bs.GetSize(ctx, c)
			switch {
			case ipld.IsNotFound(err):
				w.missing++
				return subtree{}, nil, nil
			case err != nil:
				return subtree{}, nil, fmt.Errorf("read %s: %w", c, err)
			}
			w.blocks++
			return subtree{held: int64(n), complete: true}, nil, nil
		}
		blk, err := s.bs.Get(ctx, c)
		if ipld.IsNotFound(err) {
			w.missing++
			return subtree{}, nil, nil
		}
		if err != nil {
			return subtree{}, nil, fmt.Errorf("read %s: %w", c, err)
		}
		nd, err := s.decode(ctx, blk)
		if err != nil {
			return subtree{}, nil, fmt.Errorf("decode %s: %w", c, err)
		}
		if depth == 0 {
			w.root = nd
		}
		w.blocks++
		st := subtree{held: int64(len(blk.RawData())), complete: true}
		links := nd.Links()
		if len(links) == 0 {
			return st, nil, nil
		}
		if depth+1 > maxDepth {
			return st, nil, tooDeep(links[0].Cid, depth+1, maxDepth)
		}
		return st, &localFrame{c: c, links: links, st: st}, nil
	}

	st, top, err := open(c, 0)
	if err != nil {
		return w, err
	}
	if top == nil {
		w.held = st.held
		return w, nil
	}
	stack := []*localFrame{top}
	for {
		top := stack[len(stack)-1]
		if top.next == len(top.links) {
			memo[top.c] = top.st
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				w.held = top.st.held
				return w, nil
			}
			parent := stack[len(stack)-1]
			parent.st.held += top.st.held
			parent.st.complete = parent.st.complete && top.st.complete
			continue
		}
		l := top.links[top.next]
		top.next++
		sub, ok := memo[l.Cid]
		if !ok {
			var fr *localFrame
			sub, fr, err = open(l.Cid, len(stack))
			if err != nil {
				return w, err
			}
			if fr != nil {
				stack = append(stack, fr)
				continue
			}
			memo[l.Cid] = sub
		}
		top.st.held += sub.held
		top.st.complete = top.st.complete && sub.complete
	}
}
