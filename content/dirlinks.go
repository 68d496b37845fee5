package content

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
)

// DirLinks lists the entries of the UnixFS directory dir (basic or
// HAMT-sharded) as names and CIDs, sorted by name, from the directory's own blocks alone:
// unlike Ls, no entry's root block is read or fetched, so listing a
// dataset spread over many nodes moves only the directory's blocks. A dir
// that is not a directory fails with ErrNotADirectory.
func (s *Store) DirLinks(ctx context.Context, dir cid.Cid) ([]Link, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ng, nd, err := s.openRoot(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("content: list %s: %w", dir, err)
	}
	if typ, _ := nodeInfo(nd); typ != TypeDirectory {
		return nil, fmt.Errorf("content: list %s: %w (it is a %s)", dir, ErrNotADirectory, typ)
	}
	d, err := uio.NewDirectoryFromNode(merkledag.NewReadOnlyDagService(ng), nd)
	if err != nil {
		return nil, fmt.Errorf("content: list %s: %w", dir, err)
	}
	links, err := d.Links(ctx)
	if err != nil {
		return nil, fmt.Errorf("content: list %s: %w", dir, err)
	}
	if len(links) > MaxDirLinks {
		return nil, fmt.Errorf("content: list %s: %d entries, more than %d", dir, len(links), MaxDirLinks)
	}
	out := make([]Link, len(links))
	for i, l := range links {
		out[i] = Link{Name: l.Name, CID: l.Cid}
	}
	slices.SortFunc(out, func(a, b Link) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
