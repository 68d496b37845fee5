package content

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
)

// entriesOf adds each top-level entry of dir (hidden ones skipped, as
// OpenPath does) to s on its own and returns the links.
func entriesOf(tb testing.TB, s *Store, dir string) []Link {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	var nodes []files.Node
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
			nodes = append(nodes, mustOpen(tb, filepath.Join(dir, e.Name())))
		}
	}
	roots, err := s.AddAll(testCtx(tb, time.Minute), nodes, AddOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	links := make([]Link, len(names))
	for i, n := range names {
		links[i] = Link{Name: n, CID: roots[i]}
	}
	return links
}

// TestMakeDirEqualsKubo: a directory made from its entries' CIDs on a node
// that holds none of them has the CID kubo's `ipfs add -r --cid-version=1`
// gives for the same tree (basic and HAMT-sharded), and the node stored
// nothing of the entries (it read their root blocks for their sizes).
func TestMakeDirEqualsKubo(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	holder, maker := nodes[0].store, nodes[1].store
	for _, d := range goldenDirs(t) {
		t.Run(d.name, func(t *testing.T) {
			t0 := time.Now()
			links := entriesOf(t, holder, d.path)
			had := map[cid.Cid]bool{} // the empty file's block is always local
			for _, l := range links {
				had[l.CID] = maker.Has(testCtx(t, time.Minute), l.CID)
			}
			t1 := time.Now()
			got, err := maker.MakeDir(testCtx(t, 2*time.Minute), links)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d entries: added in %s, directory made in %s", len(links), t1.Sub(t0), time.Since(t1))
			if want := kuboGoldenDirCIDs["cidv1/"+d.name]; got.String() != want {
				t.Fatalf("MakeDir = %s, kubo gives %s", got, want)
			}
			for _, l := range links {
				if !had[l.CID] && maker.Has(testCtx(t, time.Minute), l.CID) {
					t.Fatalf("%s: the maker stored the entry's root %s: it must only measure it", l.Name, l.CID)
				}
			}
			pinned, err := maker.IsPinned(testCtx(t, time.Minute), got)
			if err != nil || !pinned {
				t.Fatalf("the new directory is not pinned: %v %v", pinned, err)
			}
		})
	}
}

// TestDirLinks: add-link and rm-link edit a directory without fetching
// its entries, and refuse what they must.
func TestDirLinks(t *testing.T) {
	nodes := newTestNodes(t, 2, false, testOpts{})
	holder, maker := nodes[0].store, nodes[1].store
	ctx := testCtx(t, 2*time.Minute)
	for _, d := range goldenDirs(t)[1:] { // small-dir, hamt-dir
		t.Run(d.name, func(t *testing.T) {
			links := entriesOf(t, holder, d.path)
			full := cid.MustParse(kuboGoldenDirCIDs["cidv1/"+d.name])
			part, err := maker.MakeDir(ctx, links[1:])
			if err != nil {
				t.Fatal(err)
			}
			got, err := maker.AddLink(ctx, part, links[0].Name, links[0].CID, false)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equals(full) {
				t.Fatalf("add-link %s = %s, want %s", links[0].Name, got, full)
			}
			if _, err := maker.AddLink(ctx, full, links[1].Name, links[0].CID, false); !errors.Is(err, ErrLinkExists) {
				t.Fatalf("add-link of an existing name: %v, want ErrLinkExists", err)
			}
			back, err := maker.RmLink(ctx, full, links[0].Name)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Equals(part) {
				t.Fatalf("rm-link %s = %s, want %s", links[0].Name, back, part)
			}
			if _, err := maker.RmLink(ctx, part, links[0].Name); !errors.Is(err, ErrNoLink) {
				t.Fatalf("rm-link of a missing name: %v, want ErrNoLink", err)
			}
			// Replace keeps the count and changes the CID.
			repl, err := maker.AddLink(ctx, full, links[1].Name, links[0].CID, true)
			if err != nil || repl.Equals(full) {
				t.Fatalf("add-link --replace = %s, %v", repl, err)
			}
		})
	}
}

func TestMakeDirRefuses(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	ctx := testCtx(t, time.Minute)
	a := addBytes(t, s, []byte("a"), AddOptions{})
	for _, tc := range []struct {
		name  string
		links []Link
		want  string
	}{
		{"slash", []Link{{"a/b", a}}, "a/b"},
		{"dotdot", []Link{{"..", a}}, ".."},
		{"empty name", []Link{{"", a}}, "empty"},
		{"twice", []Link{{"x", a}, {"x", a}}, "given twice"},
		{"no cid", []Link{{"x", cid.Undef}}, "no CID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.MakeDir(ctx, tc.links)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("MakeDir(%v) = %v, want an error with %q", tc.links, err, tc.want)
			}
		})
	}
	if _, err := s.AddLink(ctx, a, "x", a, false); !errors.Is(err, ErrNotADirectory) {
		t.Fatalf("add-link to a file: %v", err)
	}
}
