package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// topName is the name the daemon gives the top entry of a get archive.
const topName = "out"

// checkDest refuses an existing destination unless it is an empty directory
// or empty file, or force is set.
func checkDest(dest string, force bool) error {
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

// extractTar writes the archive whose top entry is topName to dest: into a
// temporary sibling first, renamed into place at the end, so an interrupted
// get leaves dest as it was. Entries may not escape the top entry.
func extractTar(r io.Reader, dest string, force bool) error {
	if err := checkDest(dest, force); err != nil {
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
	tr := tar.NewReader(r)
	wrote := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name := filepath.Clean(h.Name)
		if name != topName && !strings.HasPrefix(name, topName+"/") {
			return fmt.Errorf("archive entry %q is outside the requested content", h.Name)
		}
		target := filepath.Join(tmp, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return fmt.Errorf("write %s: %w", h.Name, err)
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q has unsupported type %c", h.Name, h.Typeflag)
		}
		wrote = true
	}
	if !wrote {
		return errors.New("the daemon sent an empty archive")
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
	return os.Rename(filepath.Join(tmp, topName), dest)
}
