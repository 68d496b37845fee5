package content

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/shoalnet/shoal/content/contenttest"
)

// putDAG stores every block of d in s.
func putDAG(tb testing.TB, s *Store, d *contenttest.DAG) {
	tb.Helper()
	ctx := testCtx(tb, time.Minute)
	for _, b := range d.Blocks() {
		if err := s.PutBlock(ctx, b); err != nil {
			tb.Fatalf("put block %s: %v", b.Cid(), err)
		}
	}
}

// victimDir is a directory outside every destination holding one file.
func victimDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "victim")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("secret\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func victimUntouched(tb testing.TB, dir string) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "secret" {
		tb.Fatalf("victim directory %s holds %d entries, want only secret", dir, len(ents))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "secret")); err != nil || string(b) != "secret\n" {
		tb.Fatalf("victim file changed: %q %v", b, err)
	}
}

// dirNames lists dir, sorted.
func dirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// nested is depth directories, each holding the next under the name "d",
// the deepest holding one file.
func nested(d *contenttest.DAG, depth int) *merkledag.ProtoNode {
	n := d.Dir(contenttest.Link{Name: "f", Node: d.File([]byte("deep"))})
	for range depth - 1 {
		n = d.Dir(contenttest.Link{Name: "d", Node: n})
	}
	return n
}

// A hand-made DAG can hold what an importer never writes. WriteTo (and so
// every job input) refuses each with the sentinel that says why, writes
// nothing at the destination, leaves no temporary entry beside it and
// changes nothing outside.
func TestWriteToRefusesHostileTrees(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	victim := victimDir(t)
	type L = contenttest.Link
	for _, tc := range []struct {
		name  string
		build func(d *contenttest.DAG) ipld.Node
		want  error
	}{
		{"dot-dot", func(d *contenttest.DAG) ipld.Node {
			return d.Dir(L{Name: "..", Node: d.File([]byte("x"))})
		}, ErrBadName},
		{"dot", func(d *contenttest.DAG) ipld.Node {
			return d.Dir(L{Name: ".", Node: d.File([]byte("x"))})
		}, ErrBadName},
		{"empty name", func(d *contenttest.DAG) ipld.Node {
			return d.Dir(L{Name: "", Node: d.File([]byte("x"))})
		}, ErrBadName},
		{"slash: a symlink, then a path under it", func(d *contenttest.DAG) ipld.Node {
			return d.Dir(L{Name: "a", Node: d.Symlink(victim)}, L{Name: "a/pwned.txt", Node: d.File([]byte("pwned"))})
		}, ErrBadName},
		{"dot-dot path", func(d *contenttest.DAG) ipld.Node {
			return d.Dir(L{Name: "../../pwned.txt", Node: d.File([]byte("pwned"))})
		}, ErrBadName},
		{"NUL", func(d *contenttest.DAG) ipld.Node {
			return d.Dir(L{Name: "a\x00b", Node: d.File([]byte("x"))})
		}, ErrBadName},
		{"duplicate: a symlink, then a directory", func(d *contenttest.DAG) ipld.Node {
			inner := d.Dir(L{Name: "pwned.txt", Node: d.File([]byte("pwned"))})
			return d.Dir(L{Name: "a", Node: d.Symlink(victim)}, L{Name: "a", Node: inner})
		}, ErrDuplicateName},
		{"duplicate: a symlink, then a file", func(d *contenttest.DAG) ipld.Node {
			return d.Dir(L{Name: "a", Node: d.Symlink(filepath.Join(victim, "secret"))}, L{Name: "a", Node: d.File([]byte("pwned"))})
		}, ErrDuplicateName},
		{"duplicate deeper down", func(d *contenttest.DAG) ipld.Node {
			sub := d.Dir(L{Name: "x", Node: d.File([]byte("1"))}, L{Name: "x", Node: d.File([]byte("2"))})
			return d.Dir(L{Name: "sub", Node: sub})
		}, ErrDuplicateName},
		{"too deep", func(d *contenttest.DAG) ipld.Node { return nested(d, MaxTreeDepth+2) }, ErrTooDeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d contenttest.DAG
			root := tc.build(&d)
			putDAG(t, s, &d)
			parent := t.TempDir()
			dest := filepath.Join(parent, "in")
			ctx := testCtx(t, time.Minute)
			err := s.WriteToWith(ctx, root.Cid(), dest, WriteOptions{Force: true, RefuseSymlinkRoot: true})
			var te *TreeError
			if !errors.Is(err, tc.want) || !errors.As(err, &te) {
				t.Fatalf("WriteTo: %v, want a *TreeError matching %v", err, tc.want)
			}
			if got := dirNames(t, parent); len(got) != 0 {
				t.Fatalf("after a refused write the parent holds %v, want nothing", got)
			}
			victimUntouched(t, victim)
			// CheckTree, which the API's get runs first, says the same.
			if err := s.CheckTree(ctx, root.Cid()); !errors.Is(err, tc.want) {
				t.Fatalf("CheckTree: %v, want %v", err, tc.want)
			}
			t.Logf("error: %v", err)
		})
	}
}

// MaxTreeDepth directories below the root is still written.
func TestWriteToDepthLimitIsInclusive(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	var d contenttest.DAG
	root := nested(&d, MaxTreeDepth+1) // the root and MaxTreeDepth below it
	putDAG(t, s, &d)
	dest := filepath.Join(t.TempDir(), "deep")
	if err := s.WriteTo(testCtx(t, time.Minute), root.Cid(), dest, false); err != nil {
		t.Fatal(err)
	}
	p := dest + strings.Repeat("/d", MaxTreeDepth) + "/f"
	if b, err := os.ReadFile(p); err != nil || string(b) != "deep" {
		t.Fatalf("deepest file: %q %v", b, err)
	}
}

// A symlink as the root of a job input is refused with ErrSymlinkRoot and
// nothing is written; symlinks inside a directory stay symlinks with their
// target as stored, never followed; and plain WriteTo (shoal get on the
// daemon's side) still recreates a symlink root as a symlink.
func TestWriteToSymlinkRoot(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	victim := victimDir(t)
	ctx := testCtx(t, time.Minute)
	var d contenttest.DAG
	link := d.Symlink(victim)
	dir := d.Dir(contenttest.Link{Name: "host", Node: link}, contenttest.Link{Name: "f", Node: d.File([]byte("data"))})
	putDAG(t, s, &d)

	parent := t.TempDir()
	dest := filepath.Join(parent, "0")
	err := s.WriteToWith(ctx, link.Cid(), dest, WriteOptions{Force: true, RefuseSymlinkRoot: true})
	if !errors.Is(err, ErrSymlinkRoot) || !strings.Contains(err.Error(), link.Cid().String()) {
		t.Fatalf("symlink root: %v, want ErrSymlinkRoot naming %s", err, link.Cid())
	}
	if got := dirNames(t, parent); len(got) != 0 {
		t.Fatalf("refused symlink root left %v", got)
	}

	if err := s.WriteToWith(ctx, dir.Cid(), dest, WriteOptions{Force: true, RefuseSymlinkRoot: true}); err != nil {
		t.Fatalf("directory with a symlink inside: %v", err)
	}
	if got, err := os.Readlink(filepath.Join(dest, "host")); err != nil || got != victim {
		t.Fatalf("inner symlink: %q %v, want -> %s", got, err, victim)
	}

	plain := filepath.Join(parent, "plain")
	if err := s.WriteTo(ctx, link.Cid(), plain, false); err != nil {
		t.Fatalf("WriteTo of a symlink without the option: %v", err)
	}
	if got, err := os.Readlink(plain); err != nil || got != victim {
		t.Fatalf("symlink root without the option: %q %v", got, err)
	}
	victimUntouched(t, victim)
}

// Writing never follows a symlink already at the destination's place: with
// Force, a symlink at the destination is replaced, not written through.
func TestWriteToReplacesSymlinkDestination(t *testing.T) {
	s := newTestNode(t, testOpts{noRouter: true}).store
	victim := victimDir(t)
	var d contenttest.DAG
	dir := d.Dir(contenttest.Link{Name: "secret", Node: d.File([]byte("pwned"))})
	putDAG(t, s, &d)
	dest := filepath.Join(t.TempDir(), "in")
	if err := os.Symlink(victim, dest); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTo(testCtx(t, time.Minute), dir.Cid(), dest, true); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(dest); err != nil || !st.IsDir() {
		t.Fatalf("destination is not the written directory: %v %v", st, err)
	}
	victimUntouched(t, victim)
}
