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
// root. It fetches only the blocks on the way: each directory's root block
// and, for a HAMT-sharded one, the shards that hold the name. Fetching is
// bounded by ctx.
func (s *Store) ResolvePath(ctx context.Context, root cid.Cid, path string) (cid.Cid, error) {
	if err := s.check(); err != nil {
		return cid.Undef, err
	}
	cur := root
	path = strings.Trim(path, "/")
	if path == "" {
		return root, nil
	}
	ng, nd, err := s.openRoot(ctx, root)
	if err != nil {
		return cid.Undef, fmt.Errorf("content: resolve %s/%s: %w", root, path, err)
	}
	dag := merkledag.NewReadOnlyDagService(ng)
	walked := root.String()
	names := strings.Split(path, "/")
	for i, name := range names {
		if typ, _ := nodeInfo(nd); typ != TypeDirectory {
			return cid.Undef, fmt.Errorf("%w: %s is not a directory, so it has no entry %q", ErrNotDir, walked, name)
		}
		next, err := findLink(ctx, dag, nd, name)
		if err != nil {
			return cid.Undef, fmt.Errorf("%s: %w", walked, err)
		}
		cur = next
		walked += "/" + name
		if i == len(names)-1 {
			break // the entry itself is not fetched: only directories on the way
		}
		if nd, err = dag.Get(ctx, cur); err != nil {
			return cid.Undef, fmt.Errorf("content: resolve %s: %w", walked, err)
		}
	}
	return cur, nil
}

// findLink returns the CID of the entry name of the directory nd without
// fetching the entry: from the links of a basic directory, or from the
// shards of a HAMT-sharded one.
func findLink(ctx context.Context, dag ipld.DAGService, nd ipld.Node, name string) (cid.Cid, error) {
	if pn, ok := nd.(*merkledag.ProtoNode); ok {
		if fsn, err := isHAMT(pn); err == nil && !fsn {
			l, err := pn.GetNodeLink(name)
			if err != nil {
				return cid.Undef, fmt.Errorf("%w: no entry %q", ErrNotFound, name)
			}
			return l.Cid, nil
		}
	}
	dir, err := uio.NewDirectoryFromNode(dag, nd)
	if err != nil {
		return cid.Undef, err
	}
	var found cid.Cid
	err = dir.ForEachLink(ctx, func(l *ipld.Link) error {
		if l.Name == name {
			found = l.Cid
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return cid.Undef, err
	}
	if !found.Defined() {
		return cid.Undef, fmt.Errorf("%w: no entry %q", ErrNotFound, name)
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
