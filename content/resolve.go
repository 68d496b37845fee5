package content

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ipfs/boxo/ipld/merkledag"
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
	for _, name := range strings.Split(path, "/") {
		if typ, _ := nodeInfo(nd); typ != TypeDirectory {
			return cid.Undef, fmt.Errorf("%w: %s is not a directory, so it has no entry %q", ErrNotDir, walked, name)
		}
		dir, err := uio.NewDirectoryFromNode(dag, nd)
		if err != nil {
			return cid.Undef, fmt.Errorf("content: resolve %s: %w", walked, err)
		}
		child, err := dir.Find(ctx, name)
		switch {
		case errors.Is(err, os.ErrNotExist), errors.Is(err, merkledag.ErrLinkNotFound), errors.Is(err, ipld.ErrNotFound{}), errors.Is(err, uio.ErrNotADir):
			return cid.Undef, fmt.Errorf("%w: %s has no entry %q", ErrNotFound, walked, name)
		case err != nil:
			return cid.Undef, fmt.Errorf("content: resolve %s/%s: %w", walked, name, err)
		}
		nd, cur = child, child.Cid()
		walked += "/" + name
	}
	return cur, nil
}
