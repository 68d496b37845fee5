package wasm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/shoalnet/shoal/exec"
)

// mountFS builds the file systems of one run: every input read-only, the
// outputs directory read-write, its writes counted against disk. The
// returned closer releases the opened roots and files; call it after the
// module is closed.
//
// No symlink on this host is followed to reach a mount: an input or outputs
// path that is a symlink, or that has a symlink among its parent
// directories, is refused, and what is opened is checked to be what Lstat
// saw. Inside an input directory, symlinks resolve through an [os.Root] and
// cannot leave it.
func mountFS(t *exec.Task, disk *diskBudget) (wazero.FSConfig, io.Closer, error) {
	var roots closers
	cfg := wazero.NewFSConfig()
	mount := func(f experimentalsys.FS, target string) {
		cfg = cfg.(sysfs.FSConfig).WithSysFSMount(f, target)
	}
	fail := func(err error) (wazero.FSConfig, io.Closer, error) {
		roots.Close()
		return nil, nil, err
	}

	dirTargets := map[string]bool{}
	files := map[string]*fileFS{} // by guest directory
	for _, m := range t.Inputs {
		target := path.Clean(m.Target)
		src, st, err := lstatNoSymlink("input", m.Source)
		if err != nil {
			return fail(err)
		}
		switch {
		case st.IsDir():
			root, err := openRootAt(src, st)
			if err != nil {
				return fail(fmt.Errorf("input %s: %w", m.Source, err))
			}
			roots = append(roots, root)
			mount(&sysfs.ReadFS{FS: &sysfs.AdaptFS{FS: root.FS()}}, target)
			dirTargets[target] = true
		case st.Mode().IsRegular():
			f, err := openFileAt(src, st)
			if err != nil {
				return fail(fmt.Errorf("input %s: %w", m.Source, err))
			}
			roots = append(roots, f)
			dir, name := path.Split(target)
			dir = path.Clean(dir)
			if files[dir] == nil {
				files[dir] = &fileFS{files: map[string]hostFile{}}
			}
			files[dir].files[name] = hostFile{f: f, info: st}
		default:
			return fail(fmt.Errorf("%w: input %s is neither a directory nor a regular file", exec.ErrInvalidTask, m.Source))
		}
	}

	outTarget := ""
	if t.OutputsDir != "" {
		outTarget = path.Clean(t.OutputsTarget())
		dir, err := prepareOutputs(t.OutputsDir)
		if err != nil {
			return fail(err)
		}
		mount(&outputFS{FS: sysfs.DirFS(dir), disk: disk}, outTarget)
	}

	for _, dir := range slices.Sorted(maps.Keys(files)) {
		if dirTargets[dir] || dir == outTarget {
			return fail(fmt.Errorf("%w: a file input is mounted in %s, which is already a directory mount; the wasm engine mounts single files through a virtual directory, so put them in a directory of their own", exec.ErrInvalidTask, dir))
		}
		mount(&sysfs.ReadFS{FS: &sysfs.AdaptFS{FS: files[dir]}}, dir)
	}
	return cfg, roots, nil
}

// ErrSymlink is wrapped (with exec.ErrInvalidTask) by the error of a run
// whose input or outputs path is, or passes through, a symlink.
var ErrSymlink = errors.New("wasm: a mount path is a symlink")

// lstatNoSymlink returns the absolute form of p and its Lstat, after
// checking that neither p nor any of its parent directories is a symlink.
func lstatNoSymlink(what, p string) (string, fs.FileInfo, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s %s: %w", exec.ErrInvalidTask, what, p, err)
	}
	if err := noSymlinkParents(what, p, abs); err != nil {
		return "", nil, err
	}
	st, err := os.Lstat(abs)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s %s: %w", exec.ErrInvalidTask, what, p, err)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return "", nil, symlinkError(what, p, abs)
	}
	return abs, st, nil
}

// noSymlinkParents checks that no existing parent directory of abs is a
// symlink.
func noSymlinkParents(what, p, abs string) error {
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		st, err := os.Lstat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("%w: %s %s: %w", exec.ErrInvalidTask, what, p, err)
		case st.Mode()&fs.ModeSymlink != 0:
			return symlinkError(what, p, dir)
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}

func symlinkError(what, p, link string) error {
	return fmt.Errorf("%w: %w: %s %s: %s is a symlink, and the wasm engine follows no symlink on this host; mount the real path (inputs holding a symlink as their root are refused)",
		exec.ErrInvalidTask, ErrSymlink, what, p, link)
}

// openRootAt opens the directory abs as an os.Root and checks that it is
// the directory st describes (nothing was swapped in after the Lstat).
func openRootAt(abs string, st fs.FileInfo) (*os.Root, error) {
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	got, err := root.Stat(".")
	if err != nil || !os.SameFile(got, st) {
		root.Close()
		return nil, fmt.Errorf("%w: %s changed while it was being mounted", exec.ErrInvalidTask, abs)
	}
	return root, nil
}

// openFileAt opens the regular file abs through an os.Root of its parent
// and checks that it is the file st describes.
func openFileAt(abs string, st fs.FileInfo) (*os.File, error) {
	parent, err := os.OpenRoot(filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	f, err := parent.Open(filepath.Base(abs))
	if err != nil {
		return nil, err
	}
	got, err := f.Stat()
	if err != nil || !os.SameFile(got, st) || !got.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s changed while it was being mounted", exec.ErrInvalidTask, abs)
	}
	return f, nil
}

// prepareOutputs creates the outputs directory and checks that neither it,
// nor a parent, nor anything in it is a symlink: a symlink there would be
// followed on the host.
func prepareOutputs(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("outputs dir %s: %w", dir, err)
	}
	if err := noSymlinkParents("outputs dir", dir, abs); err != nil {
		return "", err
	}
	if st, err := os.Lstat(abs); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		return "", symlinkError("outputs dir", dir, abs)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("outputs dir: %w", err)
	}
	if _, _, err := lstatNoSymlink("outputs dir", abs); err != nil {
		return "", err
	}
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 && p != abs {
			return fmt.Errorf("%w: outputs dir %s holds a symlink (%s); give the wasm engine an empty directory", exec.ErrInvalidTask, dir, p)
		}
		return nil
	})
	return abs, err
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// outputFS is the writable outputs directory. wazero's DirFS joins guest
// paths to the host directory and lets the host follow symlinks, so a module
// able to create a symlink could reach any host file. outputFS refuses
// symlinks, hard links and ".." path elements; with a directory holding no
// symlink at the start, every path then stays inside it.
//
// Its writes are counted by disk, which refuses those past the task's
// disk bound (with EIO: see errNoSpace).
type outputFS struct {
	experimentalsys.FS
	disk *diskBudget
}

func badPath(p string) bool {
	for e := range strings.SplitSeq(p, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

func (o *outputFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if badPath(p) {
		return nil, experimentalsys.EPERM
	}
	return o.disk.openCounted(o.FS, p, flag, perm)
}

func (o *outputFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	if badPath(p) {
		return sys.Stat_t{}, experimentalsys.EPERM
	}
	return o.FS.Lstat(p)
}

func (o *outputFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	if badPath(p) {
		return sys.Stat_t{}, experimentalsys.EPERM
	}
	return o.FS.Stat(p)
}

func (o *outputFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	if badPath(p) {
		return experimentalsys.EPERM
	}
	if !o.disk.entry() {
		return errNoSpace
	}
	if errno := o.FS.Mkdir(p, perm); errno != 0 {
		o.disk.remove(budgetKey(p)) // gives the entry back
		return errno
	}
	return 0
}

func (o *outputFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	if badPath(p) {
		return experimentalsys.EPERM
	}
	return o.FS.Chmod(p, perm)
}

func (o *outputFS) Rename(from, to string) experimentalsys.Errno {
	if badPath(from) || badPath(to) {
		return experimentalsys.EPERM
	}
	if errno := o.FS.Rename(from, to); errno != 0 {
		return errno
	}
	o.disk.rename(budgetKey(from), budgetKey(to))
	return 0
}

func (o *outputFS) Rmdir(p string) experimentalsys.Errno {
	if badPath(p) {
		return experimentalsys.EPERM
	}
	if errno := o.FS.Rmdir(p); errno != 0 {
		return errno
	}
	o.disk.remove(budgetKey(p))
	return 0
}

func (o *outputFS) Unlink(p string) experimentalsys.Errno {
	if badPath(p) {
		return experimentalsys.EPERM
	}
	if errno := o.FS.Unlink(p); errno != 0 {
		return errno
	}
	o.disk.remove(budgetKey(p))
	return 0
}

// Link refuses hard links.
func (o *outputFS) Link(string, string) experimentalsys.Errno { return experimentalsys.EPERM }

// Symlink refuses symlinks.
func (o *outputFS) Symlink(string, string) experimentalsys.Errno { return experimentalsys.EPERM }

func (o *outputFS) Readlink(p string) (string, experimentalsys.Errno) {
	if badPath(p) {
		return "", experimentalsys.EPERM
	}
	return o.FS.Readlink(p)
}

func (o *outputFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	if badPath(p) {
		return experimentalsys.EPERM
	}
	return o.FS.Utimens(p, atim, mtim)
}

// fileFS is a read-only virtual directory holding single host files, for
// inputs that are files: WASI preopens only directories, and mounting the
// file's host directory would expose its siblings. Each file was opened
// once, at mount time, with no symlink followed; the module reads that open
// file, never a path.
type fileFS struct {
	files map[string]hostFile // by name in the directory
}

type hostFile struct {
	f    *os.File
	info fs.FileInfo
}

var _ fs.FS = (*fileFS)(nil)

func (f *fileFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &virtualDir{fsys: f}, nil
	}
	h, ok := f.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &inputFile{SectionReader: io.NewSectionReader(h.f, 0, h.info.Size()), info: namedInfo{h.info, name}}, nil
}

// inputFile is one opening of a file input: its own offset over the shared
// descriptor (reads are positioned, so openings do not interfere).
type inputFile struct {
	*io.SectionReader
	info fs.FileInfo
}

func (f *inputFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *inputFile) Close() error               { return nil } // the descriptor is closed with the mounts

// virtualDir is the root of a fileFS.
type virtualDir struct {
	fsys *fileFS
	ents []fs.DirEntry // nil until listed
	off  int
}

var _ fs.ReadDirFile = (*virtualDir)(nil)

func (d *virtualDir) Stat() (fs.FileInfo, error) { return dirInfo{}, nil }
func (d *virtualDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: errors.New("is a directory")}
}
func (d *virtualDir) Close() error { return nil }

func (d *virtualDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.ents == nil {
		d.ents = []fs.DirEntry{}
		for _, name := range slices.Sorted(maps.Keys(d.fsys.files)) {
			d.ents = append(d.ents, fs.FileInfoToDirEntry(namedInfo{d.fsys.files[name].info, name}))
		}
	}
	rest := d.ents[d.off:]
	if n > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(n, len(rest))]
	}
	d.off += len(rest)
	return rest, nil
}

type dirInfo struct{}

func (dirInfo) Name() string       { return "." }
func (dirInfo) Size() int64        { return 0 }
func (dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (dirInfo) ModTime() time.Time { return time.Time{} }
func (dirInfo) IsDir() bool        { return true }
func (dirInfo) Sys() any           { return nil }

type namedInfo struct {
	fs.FileInfo
	name string
}

func (n namedInfo) Name() string { return n.name }
