package content

import (
	"errors"
	"testing"
	"time"
)

// TestResolvePath: a path inside a directory held by another node resolves
// to the entry's CID (basic and HAMT directories, nested), reading only the
// directory blocks on the way: the entry itself is not fetched.
func TestResolvePath(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	holder, reader := nodes[0].store, nodes[1].store
	ctx := testCtx(t, 2*time.Minute)
	for _, d := range goldenDirs(t)[1:] { // small-dir, hamt-dir
		t.Run(d.name, func(t *testing.T) {
			links := entriesOf(t, holder, d.path)
			dir, err := holder.MakeDir(ctx, links)
			if err != nil {
				t.Fatal(err)
			}
			outer, err := holder.MakeDir(ctx, []Link{{Name: "sub", CID: dir}})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range []Link{links[0], links[len(links)-1]} {
				had := reader.Has(ctx, l.CID)
				got, size, err := reader.ResolvePath(ctx, outer, "sub/"+l.Name)
				if err != nil {
					t.Fatal(err)
				}
				if _, total, _ := holder.LocalBytes(ctx, l.CID); size != total {
					t.Errorf("sub/%s: size %d, the holder measures %d", l.Name, size, total)
				}
				if !got.Equals(l.CID) {
					t.Fatalf("sub/%s = %s, want %s", l.Name, got, l.CID)
				}
				if !had && reader.Has(ctx, l.CID) {
					t.Fatalf("resolving sub/%s fetched the entry %s", l.Name, l.CID)
				}
			}
			if got, _, err := reader.ResolvePath(ctx, outer, ""); err != nil || !got.Equals(outer) {
				t.Fatalf(`"" = %s, %v, want the root`, got, err)
			}
			if _, _, err := reader.ResolvePath(ctx, outer, "sub/no-such-entry"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a missing entry: %v, want ErrNotFound", err)
			}
			if _, _, err := holder.ResolvePath(ctx, outer, "sub/"+links[0].Name+"/x"); !errors.Is(err, ErrNotDir) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("a path through a file: %v, want ErrNotDir", err)
			}
		})
	}
}
