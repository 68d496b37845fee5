package content

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// ErrNotDir means a path goes through an entry that is not a directory.
var ErrNotDir = errors.New("content: not a directory")

// ResolvePath returns the CID of the entry at path (slash-separated
// names, no leading slash; "" is root itself) inside the UnixFS directory
// root, and the entry's cumulative size (its DAG's bytes, as its link
// records it; -1 when unknown). It fetches only the blocks on the way: the
// root block, each directory's block and, for a HAMT-sharded one, its
// shards; the entry at the end is not fetched. Fetching is bounded by ctx.
func (s *Store) ResolvePath(ctx context.Context, root cid.Cid, path string) (cid.Cid, int64, error) {
	if err := s.check(); err != nil {
		return cid.Undef, -1, err
	}
	cur := root
	path = strings.Trim(path, "/")
	ng, nd, err := s.openRoot(ctx, root)
	if err != nil {
		return cid.Undef, -1, fmt.Errorf("content: resolve %s/%s: %w", root, path, err)
	}
	if path == "" {
		return root, cumulativeSize(nd), nil
	}
	size := int64(-1)
	dag := merkledag.NewReadOnlyDagService(ng)
	walked := root.String()
	names := strings.Split(path, "/")
	for i, name := range names {
		if typ, _ := nodeInfo(nd); typ != TypeDirectory {
			return cid.Undef, -1, fmt.Errorf("%w: %s is not a directory, so it has no entry %q", ErrNotDir, walked, name)
		}
		l, err := findLink(ctx, dag, nd, name)
		if err != nil {
			return cid.Undef, -1, fmt.Errorf("%s: %w", walked, err)
		}
		cur, size = l.Cid, int64(l.Size)
		walked += "/" + name
		if i == len(names)-1 {
			break // the entry itself is not fetched: only directories on the way
		}
		if nd, err = dag.Get(ctx, cur); err != nil {
			return cid.Undef, -1, fmt.Errorf("content: resolve %s: %w", walked, err)
		}
	}
	return cur, size, nil
}

// findLink returns the CID of the entry name of the directory nd without
// fetching the entry: from the links of a basic directory, or from the
// shards of a HAMT-sharded one.
func findLink(ctx context.Context, dag ipld.DAGService, nd ipld.Node, name string) (*ipld.Link, error) {
	if pn, ok := nd.(*merkledag.ProtoNode); ok {
		if hamt, err := isHAMT(pn); err == nil && !hamt {
			l, err := pn.GetNodeLink(name)
			if err != nil {
				return nil, fmt.Errorf("%w: no entry %q", ErrNotFound, name)
			}
			return l, nil
		}
	}
	dir, err := uio.NewDirectoryFromNode(dag, nd)
	if err != nil {
		return nil, err
	}
	var found *ipld.Link
	err = dir.ForEachLink(ctx, func(l *ipld.Link) error {
		if l.Name == name {
			found = l
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no entry %q", ErrNotFound, name)
	}
	return found, nil
}

var errStop = errors.New("stop")

// isHAMT reports whether pn is a HAMT shard (true) or a basic
// directory (false).
func isHAMT(pn *merkledag.ProtoNode) (hamt bool, err error) {
	fsn, err := ft.FSNodeFromBytes(pn.Data())
	if err != nil {
		return false, err
	}
	return fsn.Type() == ft.THAMTShard, nil
}
