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
// outputs directory read-write. The returned closer releases the opened
// roots; call it after the module is closed.
func mountFS(t *exec.Task) (wazero.FSConfig, io.Closer, error) {
	var roots closers
	cfg := wazero.NewFSConfig()
	mount := func(f experimentalsys.FS, target string) {
		cfg = cfg.(sysfs.FSConfig).WithSysFSMount(f, target)
	}

	dirTargets := map[string]bool{}
	files := map[string]*fileFS{} // by guest directory
	for _, m := range t.Inputs {
		target := path.Clean(m.Target)
		src, err := filepath.Abs(m.Source)
		if err != nil {
			roots.Close()
			return nil, nil, fmt.Errorf("input %s: %w", m.Source, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			roots.Close()
			return nil, nil, fmt.Errorf("%w: input %s: %w", exec.ErrInvalidTask, m.Source, err)
		}
		switch {
		case st.IsDir():
			root, err := os.OpenRoot(src)
			if err != nil {
				roots.Close()
				return nil, nil, fmt.Errorf("input %s: %w", m.Source, err)
			}
			roots = append(roots, root)
			mount(&sysfs.ReadFS{FS: &sysfs.AdaptFS{FS: root.FS()}}, target)
			dirTargets[target] = true
		case st.Mode().IsRegular():
			dir, name := path.Split(target)
			dir = path.Clean(dir)
			if files[dir] == nil {
				files[dir] = &fileFS{files: map[string]string{}}
			}
			files[dir].files[name] = src
		default:
			roots.Close()
			return nil, nil, fmt.Errorf("%w: input %s is neither a directory nor a regular file", exec.ErrInvalidTask, m.Source)
		}
	}

	outTarget := ""
	if t.OutputsDir != "" {
		outTarget = path.Clean(t.OutputsTarget())
		dir, err := prepareOutputs(t.OutputsDir)
		if err != nil {
			roots.Close()
			return nil, nil, err
		}
		mount(&outputFS{FS: sysfs.DirFS(dir)}, outTarget)
	}

	for _, dir := range slices.Sorted(maps.Keys(files)) {
		if dirTargets[dir] || dir == outTarget {
			roots.Close()
			return nil, nil, fmt.Errorf("%w: a file input is mounted in %s, which is already a directory mount; the wasm engine mounts single files through a virtual directory, so put them in a directory of their own", exec.ErrInvalidTask, dir)
		}
		mount(&sysfs.ReadFS{FS: &sysfs.AdaptFS{FS: files[dir]}}, dir)
	}
	return cfg, roots, nil
}

// prepareOutputs creates the outputs directory and checks that it holds no
// symlink: a symlink there would be followed on the host.
func prepareOutputs(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("outputs dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("outputs dir: %w", err)
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
type outputFS struct {
	experimentalsys.FS
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
	return o.FS.OpenFile(p, flag, perm)
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
	return o.FS.Mkdir(p, perm)
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
	return o.FS.Rename(from, to)
}

func (o *outputFS) Rmdir(p string) experimentalsys.Errno {
	if badPath(p) {
		return experimentalsys.EPERM
	}
	return o.FS.Rmdir(p)
}

func (o *outputFS) Unlink(p string) experimentalsys.Errno {
	if badPath(p) {
		return experimentalsys.EPERM
	}
	return o.FS.Unlink(p)
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
// file's host directory would expose its siblings.
type fileFS struct {
	files map[string]string // name in the directory -> host path
}

var _ fs.FS = (*fileFS)(nil)

func (f *fileFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &virtualDir{fsys: f}, nil
	}
	host, ok := f.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return os.Open(host)
}

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
			st, err := os.Stat(d.fsys.files[name])
			if err != nil {
				continue
			}
			d.ents = append(d.ents, fs.FileInfoToDirEntry(namedInfo{st, name}))
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
