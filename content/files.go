package content

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
)

// OpenPath opens a file, directory or symlink on the local file system as a
// files.Node for Add, the way kubo's CLI does for `ipfs add -r`: symlinks
// (the path itself included) are kept as symlinks, not followed, and hidden
// entries (names starting with ".") are skipped unless includeHidden.
func OpenPath(path string, includeHidden bool) (files.Node, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("content: open %s: %w", path, err)
	}
	filter, err := files.NewFilter("", nil, includeHidden)
	if err != nil {
		return nil, fmt.Errorf("content: open %s: %w", path, err)
	}
	n, err := files.NewSerialFileWithOptions(path, st, files.SerialFileOptions{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("content: open %s: %w", path, err)
	}
	return n, nil
}

// WriteOptions tune [Store.WriteToWith].
type WriteOptions struct {
	// Force replaces an existing path whatever it holds.
	Force bool
	// RefuseSymlinkRoot makes a DAG whose root is a symlink fail with
	// [ErrSymlinkRoot] before anything is written. Symlinks inside a
	// directory are still written as symlinks. Job inputs and image
	// tarballs set it: an engine given a symlink as the source of a mount
	// would follow it on the executor's host.
	RefuseSymlinkRoot bool
}

// WriteTo writes the UnixFS DAG c to path on the local file system: a file,
// a directory tree, or a symlink (recreated as a symlink with the stored
// target, never followed). It is WriteToWith with only Force set.
func (s *Store) WriteTo(ctx context.Context, c cid.Cid, path string, force bool) error {
	return s.WriteToWith(ctx, c, path, WriteOptions{Force: force})
}

// WriteToWith writes the UnixFS DAG c to path. Missing blocks are fetched
// on demand.
//
// Nothing is written outside path, whatever the DAG holds: the tree is
// written through an [os.Root] per directory, each entry created new
// (O_EXCL for files, mkdir, symlink), so no symlink is ever followed while
// writing, not even one the DAG itself just created; entry names that
// [CheckName] refuses, names repeated in one directory and trees deeper than
// [MaxTreeDepth] fail with a [*TreeError]. Symlinks are recreated with their
// stored target, whatever it names; reading through them is the reader's
// concern.
//
// An existing path is replaced only if it is an empty directory, an empty
// file, or Force is set; otherwise WriteToWith fails with ErrPathExists. The
// tree is written next to path under a temporary name and renamed into
// place at the end, so a failed write leaves path as it was (with Force,
// the old content is removed just before the rename). Missing parent
// directories are created. Modes and modification times are not restored.
func (s *Store) WriteToWith(ctx context.Context, c cid.Cid, path string, o WriteOptions) error {
	if err := s.check(); err != nil {
		return err
	}
	path = filepath.Clean(path)
	fail := func(err error) error { return fmt.Errorf("content: write %s to %s: %w", c, path, err) }
	exists, err := checkDest(path, o.Force)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops directory iterators left unread by a failure
	nd, err := s.Get(ctx, c)
	if err != nil {
		return fail(err)
	}
	defer nd.Close()
	if _, ok := nd.(*files.Symlink); ok && o.RefuseSymlinkRoot {
		return fmt.Errorf("content: write %s: %w", c, ErrSymlinkRoot)
	}

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" || base == "." || base == ".." {
		return fail(fmt.Errorf("%w: %q does not name a new entry", ErrBadName, path))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fail(err)
	}
	defer root.Close()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + base + ".shoal-" + hex.EncodeToString(rnd[:])
	if err := writeNode(ctx, root, tmp, ".", nd); err != nil {
		_ = root.RemoveAll(tmp)
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return fail(err)
	}
	if exists {
		if err := root.RemoveAll(base); err != nil {
			_ = root.RemoveAll(tmp)
			return fail(fmt.Errorf("remove old: %w", err))
		}
	}
	if err := root.Rename(tmp, base); err != nil {
		_ = root.RemoveAll(tmp)
		return fail(err)
	}
	return nil
}

// writeNode creates name, which must not exist, in the directory parent and
// writes nd to it; rel is its slash path from the top of the DAG, for
// errors. name is one path component (Get's iterators checked it), so every
// operation stays in parent's directory and nothing ever resolves through a
// symlink.
func writeNode(ctx context.Context, parent *os.Root, name, rel string, nd files.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wrap := func(err error) error { return fmt.Errorf("entry %q: %w", rel, err) }
	switch nd := nd.(type) {
	case *files.Symlink:
		if err := parent.Symlink(nd.Target, name); err != nil {
			return wrap(err)
		}
		return nil
	case files.File:
		f, err := parent.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return wrap(err)
		}
		if _, err := io.Copy(f, nd); err != nil {
			f.Close()
			return wrap(err)
		}
		if err := f.Close(); err != nil {
			return wrap(err)
		}
		return nil
	case files.Directory:
		if err := parent.Mkdir(name, 0o755); err != nil {
			return wrap(err)
		}
		sub, err := parent.OpenRoot(name)
		if err != nil {
			return wrap(err)
		}
		defer sub.Close()
		it := nd.Entries()
		for it.Next() {
			child := it.Node()
			err := writeNode(ctx, sub, it.Name(), path.Join(rel, it.Name()), child)
			_ = child.Close()
			if err != nil {
				return err
			}
		}
		return it.Err()
	default:
		return wrap(fmt.Errorf("unsupported node type %T", nd))
	}
}

// checkDest reports whether path exists, and refuses a non-empty one unless
// force.
func checkDest(path string, force bool) (exists bool, err error) {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if force {
		return true, nil
	}
	switch {
	case st.Mode().IsRegular() && st.Size() == 0:
		return true, nil
	case st.IsDir():
		f, err := os.Open(path)
		if err != nil {
			return true, err
		}
		defer f.Close()
		if _, err := f.Readdirnames(1); errors.Is(err, io.EOF) {
			return true, nil
		}
	}
	return true, fmt.Errorf("%w and is not empty (use force to replace it)", ErrPathExists)
}
