package content

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// TestDirLinksNoFetch: a node that holds none of a directory's entries
// lists them (basic and HAMT) from the directory's blocks alone, without
// storing any entry; a file is not a directory.
func TestDirLinksNoFetch(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	holder, lister := nodes[0].store, nodes[1].store
	ctx := testCtx(t, 2*time.Minute)
	for _, d := range goldenDirs(t)[1:] { // small-dir, hamt-dir
		t.Run(d.name, func(t *testing.T) {
			links := entriesOf(t, holder, d.path)
			dir, err := holder.MakeDir(ctx, links)
			if err != nil {
				t.Fatal(err)
			}
			had := map[cid.Cid]bool{}
			for _, l := range links {
				had[l.CID] = lister.Has(ctx, l.CID)
			}
			got, err := lister.DirLinks(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(links)
			slices.SortFunc(want, func(a, b Link) int { return strings.Compare(a.Name, b.Name) })
			if !slices.Equal(got, want) {
				t.Fatalf("DirLinks = %d links, want %d (%v)", len(got), len(want), got)
			}
			for _, l := range links {
				if !had[l.CID] && lister.Has(ctx, l.CID) {
					t.Fatalf("%s: listing stored the entry %s", l.Name, l.CID)
				}
			}
		})
	}
	f := addBytes(t, holder, []byte("a file"), AddOptions{})
	if _, err := lister.DirLinks(ctx, f); !errors.Is(err, ErrNotADirectory) {
		t.Fatalf("DirLinks of a file: %v, want ErrNotADirectory", err)
	}
}
