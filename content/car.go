package content

// NOTE for the merge: this file carries only Store.ExportCAR, copied from
// the i17-car branch's content/car.go (same signature and behaviour) so
// the kubo publisher can be built and tested here. When both branches
// merge, keep i17-car's content/car.go and drop this copy.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
)

// ExportCAR writes the DAG under root as a CARv1 with root as its only
// root: the header, then every distinct block once, parents before
// children (depth first, as kubo's `ipfs dag export`). The DAG must be
// local; a missing block fails with ErrNotFound, possibly after part of
// the CAR was written. The walk has the bounds of every walk
// (Config.MaxDAGDepth, Config.MaxDAGBlocks).
func (s *Store) ExportCAR(ctx context.Context, root cid.Cid, w io.Writer) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.exportCAR(ctx, root, w); err != nil {
		return fmt.Errorf("content: export CAR of %s: %w", root, err)
	}
	return nil
}

func (s *Store) exportCAR(ctx context.Context, root cid.Cid, w io.Writer) error {
	car, err := storage.NewWritable(w, []cid.Cid{root}, carv2.WriteAsCarV1(true))
	if err != nil {
		return err
	}
	maxDepth, maxBlocks := s.maxDepth(), s.maxBlocks()
	type item struct {
		c     cid.Cid
		depth int
	}
	seen := map[cid.Cid]struct{}{root: {}}
	stack := []item{{root, 0}}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		blk, err := s.bs.Get(ctx, it.c)
		if err != nil {
			return fmt.Errorf("read %s: %w", it.c, notFound(err))
		}
		if err := car.Put(ctx, it.c.KeyString(), blk.RawData()); err != nil {
			return fmt.Errorf("write %s: %w", it.c, err)
		}
		if it.c.Prefix().Codec == cid.Raw {
			continue
		}
		nd, err := s.decode(ctx, blk)
		if err != nil {
			return fmt.Errorf("decode %s: %w", it.c, err)
		}
		links := nd.Links()
		if len(links) > 0 && it.depth+1 > maxDepth {
			return tooDeep(links[0].Cid, it.depth+1, maxDepth)
		}
		for i := len(links) - 1; i >= 0; i-- {
			c := links[i].Cid
			if _, ok := seen[c]; ok {
				continue
			}
			seen[c] = struct{}{}
			if int64(len(seen)) > maxBlocks {
				return tooMany(maxBlocks)
			}
			stack = append(stack, item{c, it.depth + 1})
		}
	}
	return car.Finalize()
}

// notFound maps a blockstore's not-found error to ErrNotFound.
func notFound(err error) error {
	if err != nil && !errors.Is(err, ErrNotFound) && ipld.IsNotFound(err) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}
