package content

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ipld "github.com/ipfs/go-ipld-format"

	"github.com/shoalnet/shoal/content/contenttest"
)

// Ops of FuzzWriteTo's little tree language: each is a pair of bytes (op,
// arg); arg picks tokens from the "|"-separated names string, where
// "@victim" stands for an absolute path outside every destination.
const (
	opFile    = iota // a file named tok(arg) holding tok(arg+1)
	opSymlink        // a symlink named tok(arg) to tok(arg+1)
	opOpen           // start a directory named tok(arg)
	opClose          // end the current directory
	opLiar           // a file named tok(arg) whose recorded size is wrong by arg
	opReuse          // link the last node built again, named tok(arg)
	opCount
)

// FuzzWriteTo builds UnixFS trees from fuzz bytes (any names: "..", "/",
// NUL, empty, duplicates; symlinks to anywhere; files whose recorded size
// lies) and writes them with WriteToWith. Whatever the tree, nothing
// appears outside the destination (the victim directory and the
// destination's parent are checked), a refused write leaves nothing behind,
// and nothing panics.
func FuzzWriteTo(f *testing.F) {
	seeds := []struct {
		prog  []byte
		names string
	}{
		{[]byte{opSymlink, 0, opFile, 2}, "a|@victim|a/pwned.txt|pwned"},
		{[]byte{opSymlink, 0, opOpen, 0, opFile, 2, opClose, 0}, "a|@victim|pwned.txt|pwned"},
		{[]byte{opSymlink, 0, opFile, 0}, "a|@victim"},
		{[]byte{opFile, 0, opFile, 1}, "..|x|.|"},
		{[]byte{opFile, 2}, "x|y|../../escape|z"},
		{[]byte{opOpen, 0, opOpen, 0, opSymlink, 1, opClose, 0, opFile, 3, opClose, 0}, "d|up|../../..|f"},
		{[]byte{opLiar, 7, opLiar, 200}, "big|small"},
		{[]byte{opFile, 0, opReuse, 1, opReuse, 0}, "a|b"},
		{[]byte{opSymlink, 1}, "@victim|root"}, // odd length: the root is the symlink itself
		{[]byte{opFile, 0, 0}, "a\x00b|c"},
	}
	for _, s := range seeds {
		f.Add(s.prog, s.names)
	}
	store := newTestNode(f, testOpts{noRouter: true}).store
	victim := victimDir(f)
	f.Fuzz(func(t *testing.T, prog []byte, names string) {
		if len(prog) > 1024 || len(names) > 4096 {
			return
		}
		toks := strings.Split(names, "|")
		tok := func(i int) string {
			s := toks[i%len(toks)]
			if s == "@victim" {
				return victim
			}
			return s
		}
		type frame struct {
			name  string
			links []contenttest.Link
		}
		var d contenttest.DAG
		stack := []frame{{}}
		var last ipld.Node
		add := func(name string, n ipld.Node) {
			top := &stack[len(stack)-1]
			top.links = append(top.links, contenttest.Link{Name: name, Node: n})
			last = n
		}
		for i := 0; i+1 < len(prog); i += 2 {
			arg := int(prog[i+1])
			switch prog[i] % opCount {
			case opFile:
				add(tok(arg), d.File([]byte(tok(arg+1))))
			case opSymlink:
				add(tok(arg), d.Symlink(tok(arg+1)))
			case opOpen:
				stack = append(stack, frame{name: tok(arg)})
			case opClose:
				if len(stack) > 1 {
					fr := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					add(fr.name, d.Dir(fr.links...))
				}
			case opLiar:
				data := []byte(tok(arg + 1))
				add(tok(arg), d.LyingFile(data, uint64(len(data)+arg)))
			case opReuse:
				if last != nil {
					add(tok(arg), last)
				}
			}
		}
		for len(stack) > 1 {
			fr := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			add(fr.name, d.Dir(fr.links...))
		}
		var root ipld.Node = d.Dir(stack[0].links...)
		if len(prog)%2 == 1 && len(stack[0].links) > 0 {
			root = stack[0].links[0].Node // a file, symlink or directory root
		}
		putDAG(t, store, &d)

		parent := t.TempDir()
		dest := filepath.Join(parent, "in")
		ctx := testCtx(t, time.Minute)
		err := store.WriteToWith(ctx, root.Cid(), dest, WriteOptions{RefuseSymlinkRoot: len(prog)%4 == 1})
		victimUntouched(t, victim)
		got := dirNames(t, parent)
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("refused write (%v) left %v", err, got)
			}
			return
		}
		if !slices.Equal(got, []string{"in"}) {
			t.Fatalf("the destination's parent holds %v, want [in]", got)
		}
		// Every written name is one the rules allow, and nothing below
		// dest is anything but a file, a directory or a symlink.
		werr := filepath.WalkDir(dest, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != dest {
				if cerr := CheckName(e.Name()); cerr != nil {
					t.Fatalf("wrote %s: %v", p, cerr)
				}
			}
			if m := e.Type(); m != 0 && m != fs.ModeDir && m != fs.ModeSymlink {
				t.Fatalf("wrote %s of type %v", p, m)
			}
			return nil
		})
		if werr != nil {
			t.Fatal(werr)
		}
	})
}
