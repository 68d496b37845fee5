package content

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/shoalnet/shoal/internal/kubotest"
)

// TestKuboAddCIDs: for every documented option set, our CIDs equal kubo's
// for the golden inputs and for a directory tree (nested and empty
// directories, symlinks) and a directory large enough to be HAMT-sharded.
// It logs kubo's CIDs in the form of kuboGoldenCIDs.
func TestKuboAddCIDs(t *testing.T) {
	k := kubotest.Start(t)
	s := newTestNode(t, testOpts{noRouter: true}).store
	dir := t.TempDir()
	var golden []string
	for _, g := range kuboGolden {
		t.Run(g.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(g.name, "/", "_"))
			data := goldenData(g.data)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			want := k.Add(t, p, g.kuboArgs...)
			golden = append(golden, fmt.Sprintf("%q: %q,", g.name, want))
			got := addBytes(t, s, data, g.opts)
			if got.String() != want {
				t.Errorf("CID %s, kubo ipfs add %s gives %s", got, strings.Join(g.kuboArgs, " "), want)
			}
			if g.want != "" && g.want != want {
				t.Errorf("kubo gives %s, recorded golden value is %s", want, g.want)
			}
		})
	}
	t.Logf("kubo CIDs:\n%s", strings.Join(golden, "\n"))

	dirs := goldenDirs(t)
	var dirGolden []string
	for _, set := range kuboOptionSets {
		for _, d := range dirs {
			t.Run(set.name+"/"+d.name, func(t *testing.T) {
				want := k.Add(t, d.path, set.kuboArgs...)
				dirGolden = append(dirGolden, fmt.Sprintf("%q: %q,", set.name+"/"+d.name, want))
				node, err := OpenPath(d.path, false)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Add(testCtx(t, time.Minute), node, set.opts)
				if err != nil {
					t.Fatal(err)
				}
				if got.String() != want {
					t.Errorf("directory CID %s, kubo ipfs add -r %s gives %s", got, strings.Join(set.kuboArgs, " "), want)
				}
			})
		}
	}
	t.Logf("kubo directory CIDs:\n%s", strings.Join(dirGolden, "\n"))
	// The HAMT really is a HAMT.
	c, err := s.Add(testCtx(t, time.Minute), mustOpen(t, dirs[2].path), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nd, err := s.offline.Get(testCtx(t, time.Minute), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(nd.Links()) > 256 {
		t.Errorf("hamt-dir root has %d links: not sharded", len(nd.Links()))
	}
	entries, err := s.Ls(testCtx(t, time.Minute), c)
	if err != nil || len(entries) != 4000 {
		t.Errorf("ls of HAMT directory: %d entries, %v", len(entries), err)
	}
}

func mustOpen(tb testing.TB, p string) files.Node {
	tb.Helper()
	n, err := OpenPath(p, false)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestKuboFetch: kubo fetches from a Store over bitswap, and a Store
// fetches from kubo, on loopback.
func TestKuboFetch(t *testing.T) {
	k := kubotest.Start(t)
	n := newTestNode(t, testOpts{noRouter: true, findTimeout: 10 * time.Second})

	t.Run("kubo gets from shoal", func(t *testing.T) {
		ctx := testCtx(t, 3*time.Minute)
		data := randBytes(21, 10<<20+99)
		c := addBytes(t, n.store, data, AddOptions{Pin: true})
		for _, a := range n.h.Addrs() {
			k.Run(t, nil, "swarm", "connect", a.String()+"/p2p/"+n.h.ID().String())
			break
		}
		got := k.Run(t, nil, "cat", c.String())
		if !bytes.Equal(got, data) {
			t.Fatalf("kubo cat: %d bytes, want %d (content differs)", len(got), len(data))
		}
		tree := makeTree(t)
		tc, err := n.store.Add(ctx, mustOpen(t, tree), AddOptions{Pin: true})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "kubo-get")
		k.Run(t, nil, "get", "-o", out, tc.String())
		diffTrees(t, tree, out)
	})

	t.Run("shoal gets from kubo", func(t *testing.T) {
		ctx := testCtx(t, 3*time.Minute)
		data := randBytes(22, 10<<20+7)
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := cid.Decode(k.Add(t, p, "--cid-version=1"))
		if err != nil {
			t.Fatal(err)
		}
		var last Progress
		err = n.store.Fetch(ctx, c, FetchOptions{
			Providers: []peer.AddrInfo{k.Info()},
			Progress:  func(p Progress) { last = p },
		})
		if err != nil {
			t.Fatalf("fetch from kubo: %v", err)
		}
		if last.Bytes != last.Total {
			t.Errorf("progress ended at %+v", last)
		}
		if got := catAll(t, ctx, n.store, c); !bytes.Equal(got, data) {
			t.Fatal("content from kubo differs")
		}
		tree := makeTree(t)
		tc, err := cid.Decode(k.Add(t, tree))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "from-kubo")
		if err := n.store.WriteTo(ctx, tc, out, false); err != nil {
			t.Fatal(err)
		}
		diffTrees(t, tree, out)
	})
}
