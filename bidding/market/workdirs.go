package market

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// maxFreeWorkDirs bounds the run directories kept for reuse.
const maxFreeWorkDirs = 32

// workDirs hands out the runs' work directories and takes back the ones a
// run left as it found them (nothing in it but an empty "outputs"
// directory, as the engine or publish creates it), for the next run: on
// ext4 here a mkdir costs about 0.4 ms of kernel CPU, and each run made
// two (its directory and its outputs), as much as the rest of running a
// tiny job. Anything else a run left, or a directory a run changed the
// mode or owner of, is removed as before.
type workDirs struct {
	root string

	mu     sync.Mutex
	free   []string
	closed bool
}

// take returns an empty run directory under root: a reused one or a new one.
func (w *workDirs) take() (string, error) {
	w.mu.Lock()
	if n := len(w.free); n > 0 {
		dir := w.free[n-1]
		w.free = w.free[:n-1]
		w.mu.Unlock()
		return dir, nil
	}
	w.mu.Unlock()
	return os.MkdirTemp(w.root, "run-")
}

// give takes dir back once its run is over: kept for reuse when reusable,
// else removed.
func (w *workDirs) give(dir string) {
	if reusable(dir) {
		w.mu.Lock()
		if !w.closed && len(w.free) < maxFreeWorkDirs {
			w.free = append(w.free, dir)
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
	os.RemoveAll(dir)
}

// close removes the directories kept for reuse.
func (w *workDirs) close() {
	w.mu.Lock()
	free := w.free
	w.free, w.closed = nil, true
	w.mu.Unlock()
	for _, dir := range free {
		os.RemoveAll(dir)
	}
}

// reusable reports whether dir holds nothing, or only an empty "outputs"
// directory of this process's user that is no symlink, with the mode the
// run directory (0700, os.MkdirTemp's) and the outputs directory (0700 or
// 0755, publish's and the wasm engine's) are made with.
func reusable(dir string) bool {
	if !ownDir(dir, 0o700) {
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) > 1 {
		return false
	}
	if len(entries) == 0 {
		return true
	}
	out := filepath.Join(dir, "outputs")
	if entries[0].Name() != "outputs" || !entries[0].IsDir() || !(ownDir(out, 0o700) || ownDir(out, 0o755)) {
		return false
	}
	inside, err := os.ReadDir(out)
	return err == nil && len(inside) == 0
}

// ownDir reports whether p is a directory (not a symlink) of this
// process's user with permissions perm exactly.
func ownDir(p string, perm os.FileMode) bool {
	st, err := os.Lstat(p)
	if err != nil || !st.IsDir() || st.Mode()&(os.ModeType|os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != os.ModeDir|perm {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Getuid()
}
