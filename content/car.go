package content

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/boxo/verifcid"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	"github.com/multiformats/go-multihash"
)

// CAR import bounds. A CAR comes from a user or a peer: every length in it
// is checked before anything is allocated for it.
const (
	// MaxCARHeaderSize bounds the CARv1 header (its roots): 64 KiB holds
	// about 1,800 CIDs, far more than MaxCARRoots.
	MaxCARHeaderSize = 64 << 10
	// MaxCARRoots is the most roots an imported CAR may name.
	MaxCARRoots = 64
	// carSectionSlack is what a CAR section holds besides the block: its
	// CID (at most a few hundred bytes for any hash this node accepts).
	carSectionSlack = 4 << 10
	// carPutBatch is the number of blocks written to the blockstore at once.
	carPutBatch = 64
)

// ErrBadCAR is matched by the error of [Store.ImportCAR] for input that is
// not a well-formed CAR (v1, or v2 with its CARv1 payload), names no root
// or too many, holds a block that does not match its CID, uses a hash this
// node does not accept, or does not hold the whole DAG of each root.
var ErrBadCAR = errors.New("malformed CAR")

// CAROptions refine ImportCAR.
type CAROptions struct {
	// MaxBytes bounds the blocks read (their data, not counting CIDs and
	// lengths); 0 means no bound beyond the per-block MaxBlockSize.
	MaxBytes int64
	// MaxBytesName names the bound for the error ("jobs.max_input_bytes").
	MaxBytesName string
	// Pin pins every root recursively once all the blocks are stored.
	Pin bool
}

// ExportCAR writes the DAG under root as a CARv1 with root as its only
// root: the header, then every distinct block once, parents before
// children (depth first, as kubo's `ipfs dag export`). Identity blocks
// (data inlined in the CID) are not written. The DAG must be local (Fetch
// it first); a missing block fails with ErrNotFound, possibly after part
// of the CAR was written. The walk has the bounds of every walk
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
		// Pushed in reverse so that the first link is written first.
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

// ImportCAR reads a CAR (v1, or v2 whose CARv1 payload it reads) from r,
// stores its blocks and returns its roots. r is hostile input: the header
// is bounded by MaxCARHeaderSize and MaxCARRoots, each block by
// MaxBlockSize, the blocks' bytes by opts.MaxBytes and their number by
// Config.MaxDAGBlocks; each block is hashed and compared with its CID, and
// only hashes that boxo's verifcid allows (no identity beyond its
// bound, no short digests) are accepted. Once the CAR is read, the DAG of
// every root must be complete in the store (the CAR's blocks plus what was
// already there). Any failure is an error matching ErrBadCAR or
// ErrTooLarge and pins nothing; the blocks written until then stay
// unpinned and go at the next GC. The blocks are synced to disk before the
// roots are pinned (opts.Pin), as for Add. ImportCAR holds the pin lock.
func (s *Store) ImportCAR(ctx context.Context, r io.Reader, opts CAROptions) ([]cid.Cid, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	unlock := s.bs.PinLock(ctx)
	defer unlock.Unlock(ctx)
	roots, err := s.importCAR(ctx, r, opts)
	if err != nil {
		return nil, fmt.Errorf("content: import CAR: %w", err)
	}
	return roots, nil
}

func (s *Store) importCAR(ctx context.Context, r io.Reader, opts CAROptions) ([]cid.Cid, error) {
	br, err := carv2.NewBlockReader(r,
		carv2.MaxAllowedHeaderSize(MaxCARHeaderSize),
		carv2.MaxAllowedSectionSize(MaxBlockSize+carSectionSlack))
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadCAR, err)
	}
	roots := br.Roots
	switch {
	case len(roots) == 0:
		return nil, fmt.Errorf("%w: the header names no root", ErrBadCAR)
	case len(roots) > MaxCARRoots:
		return nil, fmt.Errorf("%w: the header names %d roots, more than the %d this node accepts", ErrBadCAR, len(roots), MaxCARRoots)
	}
	for _, c := range roots {
		if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, c); err != nil {
			return nil, fmt.Errorf("%w: root %s: %v", ErrBadCAR, c, err)
		}
	}
	var (
		total int64
		count int64
		batch []blocks.Block
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// Through the block service, so bitswap peers waiting for these
		// blocks are told at once.
		if err := s.bserv.AddBlocks(ctx, batch); err != nil {
			return fmt.Errorf("write blocks: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		blk, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: block %d: %v", ErrBadCAR, count+1, err)
		}
		c := blk.Cid()
		if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, c); err != nil {
			return nil, fmt.Errorf("%w: block %d (%s): %v", ErrBadCAR, count+1, c, err)
		}
		n := int64(len(blk.RawData()))
		if n > MaxBlockSize {
			return nil, &TooLargeError{Limit: MaxBlockSize, Name: "the block size limit", Got: n}
		}
		count++
		if count > s.maxBlocks() {
			return nil, tooMany(s.maxBlocks())
		}
		total += n
		if opts.MaxBytes > 0 && total > opts.MaxBytes {
			return nil, &TooLargeError{Limit: opts.MaxBytes, Name: opts.MaxBytesName, Got: total}
		}
		if c.Prefix().MhType == multihash.IDENTITY {
			continue // the id store answers for it
		}
		batch = append(batch, blk)
		if len(batch) >= carPutBatch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for _, c := range roots {
		w, err := s.walkLocal(ctx, c)
		switch {
		case err == nil:
		case errors.Is(err, ErrTooDeep), errors.Is(err, ErrTooManyBlocks), ctx.Err() != nil:
			return nil, fmt.Errorf("root %s: %w", c, err)
		default: // a block of the DAG does not decode
			return nil, fmt.Errorf("%w: the DAG of root %s: %v", ErrBadCAR, c, err)
		}
		if w.root == nil {
			return nil, fmt.Errorf("%w: root %s is neither in the CAR nor on this node", ErrBadCAR, c)
		}
		if w.missing > 0 {
			return nil, fmt.Errorf("%w: the DAG of root %s misses %d blocks that are neither in the CAR nor on this node", ErrBadCAR, c, w.missing)
		}
	}
	if err := s.syncBlocks(ctx); err != nil {
		return nil, fmt.Errorf("sync blocks: %w", err)
	}
	if opts.Pin {
		if err := s.pinAllLocked(ctx, true, roots...); err != nil {
			return nil, err
		}
	}
	s.log.Debug("imported CAR", "roots", roots, "blocks", count, "bytes", total, "pinned", opts.Pin)
	return roots, nil
}
