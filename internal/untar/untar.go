// Package untar extracts the tar archives of `shoal get` and `shoal job
// get` without ever writing outside the destination. The archive comes from
// the daemon, which has it from the network: a hostile executor's outputs
// or any DAG a peer serves, so every entry is checked and written as if it
// were an attack.
//
// It imports only the standard library and the name rule of package
// fsname, the one the content layer applies when it builds the archive.
package untar

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/shoalnet/shoal/internal/fsname"
)

// ErrEmpty is returned for an archive without entries.
var ErrEmpty = errors.New("the daemon sent an empty archive")

// CheckDest refuses an existing destination unless it is an empty directory
// or empty file, or force is set.
func CheckDest(dest string, force bool) error {
	st, err := os.Lstat(dest)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if force {
		return nil
	}
	if st.IsDir() {
		entries, err := os.ReadDir(dest)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
	} else if st.Mode().IsRegular() && st.Size() == 0 {
		return nil
	}
	return fmt.Errorf("%s already exists and is not empty: choose another path with -o, or pass --force to replace it", dest)
}

// Extract writes the archive whose top entry is named top to dest: into a
// temporary sibling first, renamed into place at the end, so an interrupted
// get leaves dest as it was.
//
// The archive comes from the daemon, which has it from the network, so it
// is treated as hostile: it is extracted through an os.Root on the
// temporary directory, every entry is created new (O_EXCL files, mkdir,
// symlink), and an entry is only written into a directory that an earlier
// entry of the archive created. So a symlink entry is created as a symlink
// but nothing is ever written through one, and a name used twice fails.
// Names must be relative slash paths below top whose components pass
// fsname.Check (not empty, ".", "..", no "/" or NUL).
func Extract(r io.Reader, dest, top string, force bool) error {
	if err := fsname.Check(top); err != nil {
		return fmt.Errorf("top entry: %w", err)
	}
	if err := CheckDest(dest, force); err != nil {
		return err
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".shoal-get-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := extractInto(root, tar.NewReader(r), top); err != nil {
		return err
	}
	if force {
		if err := os.RemoveAll(dest); err != nil {
			return err
		}
	} else if st, err := os.Lstat(dest); err == nil && st.IsDir() {
		_ = os.Remove(dest) // empty directory, checked above
	} else if err == nil {
		_ = os.Remove(dest) // empty file
	}
	return os.Rename(filepath.Join(tmp, top), dest)
}

// extractInto writes the entries of tr into root (see Extract).
func extractInto(root *os.Root, tr *tar.Reader, top string) error {
	// kinds holds every path written so far, by type; only a path whose
	// kind is tar.TypeDir may be the parent of a later entry.
	kinds := map[string]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name, err := entryName(h, top)
		if err != nil {
			return err
		}
		if _, dup := kinds[name]; dup {
			return fmt.Errorf("archive entry %q appears twice; refusing to overwrite what the archive already wrote", h.Name)
		}
		if dir := path.Dir(name); name != top {
			switch kind, ok := kinds[dir]; {
			case !ok:
				return fmt.Errorf("archive entry %q comes before its directory %q", h.Name, dir)
			case kind == tar.TypeSymlink:
				return fmt.Errorf("archive entry %q is under the symlink %q; refusing to write through a symlink", h.Name, dir)
			case kind != tar.TypeDir:
				return fmt.Errorf("archive entry %q is under %q, which is not a directory", h.Name, dir)
			}
		}
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				// A sparse entry's holes read as zeros: a few bytes of
				// archive could claim an exabyte. The daemon never sends one.
				return fmt.Errorf("archive entry %q is a sparse file, which get does not extract", h.Name)
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.Mkdir(name, 0o755)
		case tar.TypeReg:
			err = writeEntry(root, name, tr)
		case tar.TypeSymlink:
			err = root.Symlink(h.Linkname, name)
		default:
			return fmt.Errorf("archive entry %q has unsupported type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("archive entry %q: %w", h.Name, err)
		}
		kinds[name] = h.Typeflag
	}
	if len(kinds) == 0 {
		return ErrEmpty
	}
	return nil
}

// entryName checks the name of an archive entry and returns it with a
// directory's trailing slash removed.
func entryName(h *tar.Header, top string) (string, error) {
	name := h.Name
	if h.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	bad := func(why string) error {
		return fmt.Errorf("archive entry %q %s; refusing to extract it", h.Name, why)
	}
	if strings.HasPrefix(name, "/") {
		return "", bad("is an absolute path")
	}
	parts := strings.Split(name, "/")
	if parts[0] != top {
		return "", bad("is outside the requested content")
	}
	for _, p := range parts {
		// The daemon refuses these names when it builds the archive; the
		// same rules again here, component by component.
		if err := fsname.Check(p); err != nil {
			return "", bad(fmt.Sprintf("has a bad path component (%v)", err))
		}
	}
	return name, nil
}

// writeEntry creates the file name in root (it must not exist) with the
// entry's bytes.
func writeEntry(root *os.Root, name string, r io.Reader) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
