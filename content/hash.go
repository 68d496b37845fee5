package content

import (
	"context"
	"fmt"
	"sync"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// Hash returns the CID that Store.Add would give node with opts, storing
// nothing (kubo's `ipfs add --only-hash`): file data is chunked and hashed
// as it streams by. opts.Pin is ignored. Hash closes node.
//
// Raw leaves (the file data under the CIDv1 defaults) are dropped as soon
// as they are hashed; the dag-pb nodes above them (about one per 174
// chunks, and the directories) are kept until Hash returns, because a
// directory growing into a HAMT may read back what it holds.
func Hash(ctx context.Context, node files.Node, opts AddOptions) (cid.Cid, error) {
	defer node.Close()
	p, err := opts.resolve()
	if err != nil {
		return cid.Undef, err
	}
	imp := &importer{dag: &hashDAG{kept: map[cid.Cid]ipld.Node{}}, p: p, progress: opts.Progress}
	root, err := imp.add(ctx, node)
	if err != nil {
		return cid.Undef, fmt.Errorf("content: hash: %w", err)
	}
	return root.Cid(), nil
}

// hashDAG is the DAG service of Hash: it keeps the dag-pb nodes it is
// given and forgets raw blocks.
type hashDAG struct {
	mu   sync.Mutex
	kept map[cid.Cid]ipld.Node
}

func (d *hashDAG) Add(_ context.Context, n ipld.Node) error {
	if n.Cid().Type() == cid.Raw {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.kept[n.Cid()] = n
	return nil
}

func (d *hashDAG) AddMany(ctx context.Context, ns []ipld.Node) error {
	for _, n := range ns {
		if err := d.Add(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (d *hashDAG) Get(_ context.Context, c cid.Cid) (ipld.Node, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.kept[c]; ok {
		return n, nil
	}
	return nil, ipld.ErrNotFound{Cid: c}
}

func (d *hashDAG) GetMany(ctx context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	out := make(chan *ipld.NodeOption, len(cs))
	for _, c := range cs {
		n, err := d.Get(ctx, c)
		out <- &ipld.NodeOption{Node: n, Err: err}
	}
	close(out)
	return out
}

func (d *hashDAG) Remove(_ context.Context, c cid.Cid) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.kept, c)
	return nil
}

func (d *hashDAG) RemoveMany(ctx context.Context, cs []cid.Cid) error {
	for _, c := range cs {
		_ = d.Remove(ctx, c)
	}
	return nil
}
