package content

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
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

// WriteTo writes the UnixFS DAG c to path on the local file system: a file,
// a directory tree, or a symlink (recreated as a symlink with the stored
// target, never followed). Missing blocks are fetched on demand.
//
// An existing path is replaced only if it is an empty directory, an empty
// file, or force is set; otherwise WriteTo fails with ErrPathExists. The
// tree is written next to path under a temporary name and renamed into
// place at the end, so a failed WriteTo leaves path as it was (with force,
// the old content is removed just before the rename). Missing parent
// directories are created. Modes and modification times are not restored.
func (s *Store) WriteTo(ctx context.Context, c cid.Cid, path string, force bool) error {
	if err := s.check(); err != nil {
		return err
	}
	path = filepath.Clean(path)
	exists, err := checkDest(path, force)
	if err != nil {
		return fmt.Errorf("content: write %s to %s: %w", c, path, err)
	}
	nd, err := s.Get(ctx, c)
	if err != nil {
		return fmt.Errorf("content: write %s to %s: %w", c, path, err)
	}
	defer nd.Close()

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("content: write %s to %s: %w", c, path, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".shoal-"+hex.EncodeToString(rnd[:]))
	if err := files.WriteTo(nd, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("content: write %s to %s: %w", c, path, err)
	}
	if exists {
		if err := os.RemoveAll(path); err != nil {
			_ = os.RemoveAll(tmp)
			return fmt.Errorf("content: write %s to %s: remove old: %w", c, path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("content: write %s to %s: %w", c, path, err)
	}
	return nil
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
