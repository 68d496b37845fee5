package testnet

import (
	"context"
	"errors"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/shoalnet/shoal/node"
)

// PutBlocks writes blks into the blockstore of the repo at path as the
// daemon lays it out (docs: content/doc.go, /blocks keyed by multihash),
// unpinned, and syncs them: for tests that need content in a repo that no
// import or fetch would accept (a hostile DAG). The daemon must not run.
func PutBlocks(repo string, blks []blocks.Block) (err error) {
	r, err := node.OpenRepo(repo)
	if err != nil {
		return err
	}
	ds, err := r.OpenDatastore()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ds.Close()) }()
	prefix := datastore.NewKey("/blocks")
	bs := blockstore.NewBlockstore(namespace.Wrap(ds, prefix), blockstore.NoPrefix())
	ctx := context.Background()
	for i := 0; i < len(blks); i += 10000 {
		if err := bs.PutMany(ctx, blks[i:min(i+10000, len(blks))]); err != nil {
			return err
		}
	}
	return ds.Sync(ctx, prefix)
}
