// Package untar extracts tar archives without ever writing outside the
// destination: those of `shoal get` and `shoal job get` (Extract), which
// come from the daemon, which has them from the network (a hostile
// executor's outputs or any DAG a peer serves), and the outputs of a Docker
// job that the engine sends (ExtractTo), which the job wrote. Every entry
// is checked and written as if it were an attack.
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

// ErrEmpty is returned by Extract for an archive without entries.
var ErrEmpty = errors.New("the daemon sent an empty archive")

// ErrTooLarge is matched by the error of ExtractTo when the regular files
// of the archive take more than Options.MaxBytes. What was extracted
// before the entry that passed the bound stays.
var ErrTooLarge = errors.New("the archive's files are over the byte budget")

// Options of ExtractTo. The zero value extracts like Extract: directories,
// regular files (mode 0644) and symlinks, nothing else, without a bound.
type Options struct {
	// KeepModes keeps the permission bits of regular files, at most 0755
	// (no setuid, setgid, sticky, or group and other write) and always
	// readable and writable by the owner; without it files are 0644.
	KeepModes bool
	// HardLinks extracts hard link entries, whose target must be a
	// regular file that an earlier entry of the archive wrote (never a
	// file that was there before, a directory or a symlink).
	HardLinks bool
	// SkipSpecial skips device and FIFO entries instead of failing.
	SkipSpecial bool
	// MaxBytes, when positive, bounds the bytes of the regular files,
	// each counted rounded up to BlockSize (a hard link counts nothing):
	// the entry that passes it is not written, and the error matches
	// ErrTooLarge.
	MaxBytes int64
	// BlockSize is the unit of MaxBytes (a filesystem's page size); 0 or
	// less counts bytes.
	BlockSize int64
	// resume keeps what an interrupted extraction of the same archive left
	// in root (ExtractResume): a directory where the archive has one, a
	// regular file of the entry's size (files are written in order, so a
	// file cut short is shorter); anything else there is removed and
	// written again.
	resume bool
	// kept counts the files and bytes resume kept.
	kept *Kept
}

// Kept is what ExtractResume found complete from an earlier run.
type Kept struct {
	Files int
	Bytes int64
}

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
	n, err := extractInto(root, tar.NewReader(r), top, Options{})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrEmpty
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

// ExtractTo writes the entries of the archive r into root, a directory
// that exists, with the same checks as Extract: every entry is created new
// (O_EXCL files, mkdir, symlink, link), only into a directory that an
// earlier entry created (or root itself), so nothing is written through a
// symlink and a name used twice fails. Names are relative slash paths
// whose components pass fsname.Check, below root; "./" (or ".") names root
// itself and may lead every name, as in the archives the Docker Engine
// sends. An archive without entries writes nothing.
func ExtractTo(root *os.Root, r io.Reader, o Options) error {
	_, err := extractInto(root, tar.NewReader(r), "", o)
	return err
}

// extractInto writes the entries of tr into root (see Extract; with top
// "", see ExtractTo) and returns how many it wrote.
func extractInto(root *os.Root, tr *tar.Reader, top string, o Options) (int, error) {
	// kinds holds every path written so far, by type; only a path whose
	// kind is tar.TypeDir may be the parent of a later entry.
	kinds := map[string]byte{}
	if top == "" {
		kinds["."] = tar.TypeDir // root exists
	}
	block := max(o.BlockSize, 1)
	var used int64
	written := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return written, fmt.Errorf("read archive: %w", err)
		}
		name, err := entryName(h, h.Name, top)
		if err != nil {
			return written, err
		}
		if name == "." {
			if h.Typeflag != tar.TypeDir {
				return written, fmt.Errorf("archive entry %q names the destination itself and is not a directory", h.Name)
			}
			continue
		}
		if _, dup := kinds[name]; dup {
			return written, fmt.Errorf("archive entry %q appears twice; refusing to overwrite what the archive already wrote", h.Name)
		}
		if dir := path.Dir(name); name != top {
			switch kind, ok := kinds[dir]; {
			case !ok:
				return written, fmt.Errorf("archive entry %q comes before its directory %q", h.Name, dir)
			case kind == tar.TypeSymlink:
				return written, fmt.Errorf("archive entry %q is under the symlink %q; refusing to write through a symlink", h.Name, dir)
			case kind != tar.TypeDir:
				return written, fmt.Errorf("archive entry %q is under %q, which is not a directory", h.Name, dir)
			}
		}
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				// A sparse entry's holes read as zeros: a few bytes of
				// archive could claim an exabyte. The daemon never sends one.
				return written, fmt.Errorf("archive entry %q is a sparse file, which is not extracted", h.Name)
			}
		}
		if o.resume {
			keep, err := resumeEntry(root, name, h)
			if err != nil {
				return written, fmt.Errorf("archive entry %q: resume: %w", h.Name, err)
			}
			if keep {
				if h.Typeflag == tar.TypeReg {
					o.kept.Files++
					o.kept.Bytes += h.Size
				}
				kinds[name] = h.Typeflag
				written++
				continue
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.Mkdir(name, 0o755)
		case tar.TypeReg:
			if o.MaxBytes > 0 {
				used += (h.Size + block - 1) / block * block
				if used > o.MaxBytes {
					return written, fmt.Errorf("archive entry %q: %w of %d bytes", h.Name, ErrTooLarge, o.MaxBytes)
				}
			}
			perm := os.FileMode(0o644)
			if o.KeepModes {
				perm = os.FileMode(h.Mode)&0o755 | 0o600
			}
			err = writeEntry(root, name, tr, perm)
		case tar.TypeSymlink:
			err = root.Symlink(h.Linkname, name)
		case tar.TypeLink:
			if !o.HardLinks {
				return written, fmt.Errorf("archive entry %q is a hard link, which is not extracted", h.Name)
			}
			var target string
			if target, err = entryName(h, h.Linkname, top); err != nil {
				return written, err
			}
			if kind := kinds[target]; kind != tar.TypeReg && kind != tar.TypeLink {
				return written, fmt.Errorf("archive entry %q links to %q, which is not a regular file the archive wrote before", h.Name, h.Linkname)
			}
			err = root.Link(target, name)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			if o.SkipSpecial {
				continue
			}
			return written, fmt.Errorf("archive entry %q has unsupported type %q", h.Name, h.Typeflag)
		default:
			return written, fmt.Errorf("archive entry %q has unsupported type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			return written, fmt.Errorf("archive entry %q: %w", h.Name, err)
		}
		kinds[name] = h.Typeflag
		written++
	}
	return written, nil
}

// entryName checks name, the name of the archive entry h or its hard
// link's target, and returns it with a directory's trailing slash removed
// (and, with top "", a leading "./"; "." for the root itself).
func entryName(h *tar.Header, name, top string) (string, error) {
	if h.Typeflag == tar.TypeDir && name == h.Name {
		name = strings.TrimSuffix(name, "/")
	}
	bad := func(why string) error {
		return fmt.Errorf("archive entry %q %s; refusing to extract it", h.Name, why)
	}
	if strings.HasPrefix(name, "/") {
		return "", bad("is an absolute path")
	}
	if top == "" {
		if name == "." || name == "" && h.Typeflag == tar.TypeDir {
			return ".", nil
		}
		name = strings.TrimPrefix(name, "./")
	}
	parts := strings.Split(name, "/")
	if top != "" && parts[0] != top {
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
// entry's bytes and permissions perm.
func writeEntry(root *os.Root, name string, r io.Reader, perm os.FileMode) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// resumeEntry decides what to do with what an earlier run left at name:
// keep it (true) when it is what the entry h would write, else remove it.
func resumeEntry(root *os.Root, name string, h *tar.Header) (bool, error) {
	st, err := root.Lstat(name)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch {
	case h.Typeflag == tar.TypeDir && st.IsDir():
		return true, nil
	case h.Typeflag == tar.TypeReg && st.Mode().IsRegular() && st.Size() == h.Size:
		return true, nil
	}
	return false, root.RemoveAll(name)
}

// ExtractResume is Extract for a download that may be interrupted and run
// again: it extracts into a directory beside dest named after id (the
// archive's CID), which an interrupted run leaves behind, and a later run
// with the same id keeps the directories and the complete files found
// there instead of writing them again. Once the archive is complete the
// directory's top entry is renamed to dest. The checks are Extract's; the
// directory is opened as an os.Root, so nothing an earlier (hostile)
// archive left there can lead a write outside it.
func ExtractResume(r io.Reader, dest, top, id string) (Kept, error) {
	var kept Kept
	if err := fsname.Check(top); err != nil {
		return kept, fmt.Errorf("top entry: %w", err)
	}
	if err := fsname.Check(id); err != nil {
		return kept, fmt.Errorf("id: %w", err)
	}
	if err := CheckDest(dest, false); err != nil {
		return kept, err
	}
	partial := PartialDir(dest, id)
	if err := os.MkdirAll(partial, 0o700); err != nil {
		return kept, err
	}
	root, err := os.OpenRoot(partial)
	if err != nil {
		return kept, err
	}
	defer root.Close()
	n, err := extractInto(root, tar.NewReader(r), top, Options{resume: true, kept: &kept})
	if err != nil {
		return kept, fmt.Errorf("%w (what is complete stays in %s: run the same command again to resume)", err, partial)
	}
	if n == 0 {
		return kept, ErrEmpty
	}
	if st, err := os.Lstat(dest); err == nil && (st.IsDir() || st.Size() == 0) {
		_ = os.Remove(dest) // empty, checked above
	}
	if err := os.Rename(filepath.Join(partial, top), dest); err != nil {
		return kept, err
	}
	return kept, os.RemoveAll(partial)
}

// PartialDir is where ExtractResume keeps an unfinished extraction of id
// for dest.
func PartialDir(dest, id string) string {
	return filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".shoal-partial-"+id)
}
