package content

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/internal/fsname"
)

// MaxTreeDepth is how many directories deep a DAG may nest below its root
// when it becomes files ([Store.WriteTo], [Store.Get] and so the API's tar
// archives): 256, far beyond real trees (a deep node_modules is about 30)
// and far below where a path stops fitting in PATH_MAX-sized buffers of the
// tools that read it. Deeper trees fail with [ErrTooDeep].
const MaxTreeDepth = 256

// CheckName reports whether name may be a directory entry written to disk:
// not empty, not "." or "..", and without "/" or NUL. A UnixFS directory is
// only a list of links, so its names are whatever its author wrote; these
// are the names that would leave the directory or not be one file name.
// Its errors match [ErrBadName].
func CheckName(name string) error { return fsname.Check(name) }

// TreeError is the error of a DAG that cannot become files: the directory
// the offending entry is in (slash-separated from the DAG's root, "" for
// the root itself) and the reason, which matches [ErrBadName],
// [ErrDuplicateName] or [ErrTooDeep] and names the entry.
type TreeError struct {
	Dir string
	Err error
}

func (e *TreeError) Error() string {
	if e.Dir == "" {
		return "in the top directory: " + e.Err.Error()
	}
	dir := e.Dir
	if len(dir) > 120 { // a deep tree: its start and its end say enough
		dir = strings.ToValidUTF8(dir[:40]+"..."+dir[len(dir)-60:], "")
	}
	return fmt.Sprintf("in directory %q: %v", dir, e.Err)
}

func (e *TreeError) Unwrap() error { return e.Err }

// checkTree wraps nd so that reading it enforces the rules of a tree that
// may become files: every directory iterator fails (its Err) at the first
// entry whose name fails CheckName, at a name seen before in the same
// directory, and at a directory nested deeper than MaxTreeDepth. Files and
// symlinks are returned as they are.
func checkTree(nd files.Node) files.Node {
	if d, ok := nd.(files.Directory); ok {
		return &checkedDir{Directory: d}
	}
	return nd
}

type checkedDir struct {
	files.Directory
	path  string
	depth int
}

func (d *checkedDir) Entries() files.DirIterator {
	return &checkedIter{dir: d, it: d.Directory.Entries(), seen: map[string]struct{}{}}
}

type checkedIter struct {
	dir  *checkedDir
	it   files.DirIterator
	seen map[string]struct{}
	node files.Node
	err  error
}

func (it *checkedIter) Name() string     { return it.it.Name() }
func (it *checkedIter) Node() files.Node { return it.node }

func (it *checkedIter) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.it.Err()
}

func (it *checkedIter) Next() bool {
	if it.err != nil || !it.it.Next() {
		return false
	}
	name := it.it.Name()
	if err := CheckName(name); err != nil {
		return it.fail(err)
	}
	if _, dup := it.seen[name]; dup {
		return it.fail(fmt.Errorf("%w: %q appears twice", ErrDuplicateName, name))
	}
	it.seen[name] = struct{}{}
	it.node = it.it.Node()
	if d, ok := it.node.(files.Directory); ok {
		if it.dir.depth+1 > MaxTreeDepth {
			return it.fail(fmt.Errorf("%w: %q is more than %d directories deep", ErrTooDeep, name, MaxTreeDepth))
		}
		it.node = &checkedDir{Directory: d, path: path.Join(it.dir.path, name), depth: it.dir.depth + 1}
	}
	return true
}

// fail ends the iteration with err, releasing the refused entry.
func (it *checkedIter) fail(err error) bool {
	if n := it.it.Node(); n != nil {
		_ = n.Close()
	}
	it.node = nil
	it.err = &TreeError{Dir: it.dir.path, Err: err}
	return false
}

// CheckTree walks the UnixFS DAG c as WriteTo and Get would (reading
// directories and the root block of every entry, never the bytes of files)
// and returns the first reason it cannot become files: a [*TreeError]
// matching [ErrBadName], [ErrDuplicateName] or [ErrTooDeep]. Missing blocks
// are fetched. Callers that stream a DAG (the API's tar archives) call it
// first so that a refusal is an error, not a truncated stream.
func (s *Store) CheckTree(ctx context.Context, c cid.Cid) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the directory iterators' goroutines on an early return
	nd, err := s.Get(ctx, c)
	if err != nil {
		return err
	}
	defer nd.Close()
	if err := walkDirs(nd); err != nil {
		return fmt.Errorf("content: %s cannot be written as files: %w", c, err)
	}
	return nil
}

// walkDirs reads every directory below nd; the checks are checkedDir's.
func walkDirs(nd files.Node) error {
	d, ok := nd.(files.Directory)
	if !ok {
		return nil
	}
	it := d.Entries()
	for it.Next() {
		err := walkDirs(it.Node())
		_ = it.Node().Close()
		if err != nil {
			return err
		}
	}
	return it.Err()
}
