package wasm

import (
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// entryBytes is what creating a file or directory in the outputs costs
// against the disk bound, so that a module cannot fill the host's inodes
// with empty files for free. It is a file system block.
const entryBytes = 4096

// errNoSpace is the errno of a write refused by the disk bound. wazero's
// errno set has no ENOSPC or EFBIG (it would map them to EIO anyway), so
// the module sees EIO; Run's error and the Result's Stderr say why.
const errNoSpace = experimentalsys.EIO

// diskBudget counts the bytes a run's outputs hold and refuses the writes
// that would take them past the task's Limits.DiskBytes. A file counts for
// its size (the highest byte written or truncated to, holes included, since
// that is what publishing it reads); a removed file gives its bytes back.
type diskBudget struct {
	limit int64 // 0: no bound

	mu      sync.Mutex
	used    int64
	sizes   map[string]int64 // counted size by path in the outputs
	refused int64            // the largest total refused, 0 if none
}

func newDiskBudget(limit int64) *diskBudget {
	return &diskBudget{limit: limit, sizes: map[string]int64{}}
}

// exceeded returns the total that a refused write would have reached, 0 if
// no write was refused.
func (b *diskBudget) exceeded() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused
}

// reserveLocked adds delta to the bytes used, or refuses if that passes
// the limit.
func (b *diskBudget) reserveLocked(delta int64) bool {
	if delta > 0 && b.limit > 0 && b.used+delta > b.limit {
		b.refused = max(b.refused, b.used+delta)
		return false
	}
	b.used += delta
	return true
}

// entry charges the creation of one file or directory.
func (b *diskBudget) entry() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reserveLocked(entryBytes)
}

// track starts counting the file at key with its current size, if it is
// not counted yet; a file opened with O_TRUNC restarts at size.
func (b *diskBudget) track(key string, size int64, reset bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, ok := b.sizes[key]
	if ok && !reset {
		return
	}
	b.used += size - old
	b.sizes[key] = size
}

// grow makes the file at key at least end bytes long in the count, or
// refuses.
func (b *diskBudget) grow(key string, end int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.sizes[key]
	if end <= old {
		return true
	}
	if !b.reserveLocked(end - old) {
		return false
	}
	b.sizes[key] = end
	return true
}

// resize sets the size of the file at key (truncate), or refuses growth.
func (b *diskBudget) resize(key string, size int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.sizes[key]
	if !b.reserveLocked(size - old) {
		return false
	}
	b.sizes[key] = size
	return true
}

// remove gives back the bytes of key (a file or a directory and all under
// it) and its entry.
func (b *diskBudget) remove(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= entryBytes
	for k, n := range b.sizes {
		if k == key || strings.HasPrefix(k, key+"/") {
			b.used -= n
			delete(b.sizes, k)
		}
	}
}

// rename moves the counts under from to to; what to held is given back.
func (b *diskBudget) rename(from, to string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, n := range b.sizes {
		if k == to || strings.HasPrefix(k, to+"/") {
			b.used -= n
			delete(b.sizes, k)
		}
	}
	for k, n := range b.sizes {
		if k == from || strings.HasPrefix(k, from+"/") {
			delete(b.sizes, k)
			b.sizes[to+strings.TrimPrefix(k, from)] = n
		}
	}
}

func budgetKey(p string) string { return path.Clean("/" + p) }

// budgetFile is a file of the outputs whose writes are counted.
type budgetFile struct {
	experimentalsys.File
	b   *diskBudget
	key string
}

// end returns the offset a write of n bytes at the current position ends at.
func (f *budgetFile) end(n int) (int64, experimentalsys.Errno) {
	if f.File.IsAppend() {
		st, errno := f.File.Stat()
		if errno != 0 {
			return 0, errno
		}
		return st.Size + int64(n), 0
	}
	off, errno := f.File.Seek(0, io.SeekCurrent)
	if errno != 0 {
		return 0, errno
	}
	return off + int64(n), 0
}

func (f *budgetFile) Write(buf []byte) (int, experimentalsys.Errno) {
	end, errno := f.end(len(buf))
	if errno != 0 {
		return 0, errno
	}
	if !f.b.grow(f.key, end) {
		return 0, errNoSpace
	}
	return f.File.Write(buf)
}

func (f *budgetFile) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	if !f.b.grow(f.key, off+int64(len(buf))) {
		return 0, errNoSpace
	}
	return f.File.Pwrite(buf, off)
}

func (f *budgetFile) Truncate(size int64) experimentalsys.Errno {
	if size < 0 {
		return experimentalsys.EINVAL
	}
	if !f.b.resize(f.key, size) {
		return errNoSpace
	}
	return f.File.Truncate(size)
}

// openCounted opens p in fsys and wraps a regular file for counting.
func (b *diskBudget) openCounted(fsys experimentalsys.FS, p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	key := budgetKey(p)
	_, errno := fsys.Lstat(p)
	created := errno == experimentalsys.ENOENT && flag&experimentalsys.O_CREAT != 0
	if created && !b.entry() {
		return nil, errNoSpace
	}
	f, errno := fsys.OpenFile(p, flag, perm)
	if errno != 0 {
		if created {
			b.mu.Lock()
			b.used -= entryBytes
			b.mu.Unlock()
		}
		return nil, errno
	}
	if dir, _ := f.IsDir(); dir {
		return f, 0
	}
	st, errno := f.Stat()
	if errno != 0 {
		_ = f.Close()
		return nil, errno
	}
	b.track(key, st.Size, flag&experimentalsys.O_TRUNC != 0)
	return &budgetFile{File: f, b: b, key: key}, 0
}
