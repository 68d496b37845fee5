package content

import (
	"bytes"
	"context"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// emptyBlocks answers for blocks whose content is empty (such as the raw
// block of an empty file, bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku)
// as if it held them. Such a block cannot be fetched: boxo's bitswap server
// takes a size of 0 for "not found" and never sends it (kubo included). Since
// an empty block is fully known from its CID, nothing is lost by making it up.
type emptyBlocks struct {
	blockstore.Blockstore
}

var _ blockstore.Blockstore = emptyBlocks{}

// sha256Empty is the SHA2-256 digest of no bytes.
var sha256Empty = []byte{
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
}

// isEmptyBlock reports whether c addresses empty content.
func isEmptyBlock(c cid.Cid) bool {
	d, err := mh.Decode(c.Hash())
	if err != nil {
		return false
	}
	switch d.Code {
	case mh.SHA2_256:
		return bytes.Equal(d.Digest, sha256Empty)
	case mh.IDENTITY:
		return false // the id store handles these
	}
	sum, err := mh.Sum(nil, d.Code, d.Length)
	return err == nil && bytes.Equal(sum, c.Hash())
}

func (e emptyBlocks) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if isEmptyBlock(c) {
		return true, nil
	}
	return e.Blockstore.Has(ctx, c)
}

func (e emptyBlocks) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if isEmptyBlock(c) {
		return blocks.NewBlockWithCid(nil, c)
	}
	return e.Blockstore.Get(ctx, c)
}

func (e emptyBlocks) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if isEmptyBlock(c) {
		return 0, nil
	}
	return e.Blockstore.GetSize(ctx, c)
}

// AllKeysChanWithErr passes the capability of the wrapped store through.
func (e emptyBlocks) AllKeysChanWithErr(ctx context.Context) (<-chan cid.Cid, func() error, error) {
	if w, ok := e.Blockstore.(blockstore.AllKeysChanWithErrer); ok {
		return w.AllKeysChanWithErr(ctx)
	}
	ch, err := e.Blockstore.AllKeysChan(ctx)
	return ch, func() error { return nil }, err
}

// servedSizes is the blockstore bitswap runs on. boxo's bitswap server reads
// a block size of 0 as "not found", so an empty block would never be sent
// to a peer that asks for it (a kubo peer fetching an empty file added with
// raw leaves would wait forever); reporting 1 byte for an empty block makes
// the server send it. Sizes only steer the server's accounting.
type servedSizes struct {
	blockstore.Blockstore
}

func (s servedSizes) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	n, err := s.Blockstore.GetSize(ctx, c)
	if err == nil && n == 0 {
		return 1, nil
	}
	return n, err
}
