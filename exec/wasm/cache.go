package wasm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/shoalnet/shoal/exec"
)

// Stats counts the work of an executor since it was created.
type Stats struct {
	// Runs counts the Run calls that instantiated a module.
	Runs uint64
	// Compiles counts wazero compilations: runs (and Precompile calls) whose
	// module was not in the in-memory cache. Those served from the disk
	// cache are included, and also counted in DiskCacheHits.
	Compiles uint64
	// CacheHits counts the runs served by the in-memory cache.
	CacheHits uint64
	// DiskCacheHits counts the Compiles whose machine code was loaded from
	// the cache directory instead of being generated. It is 0 without
	// WithCacheDir. It is inferred from the directory (no new entry written
	// during the compilation), so compilations running at the same moment
	// (in this executor or another process on the same directory) can hide
	// a hit.
	DiskCacheHits uint64
	// CachedModules is the number of compiled modules held in memory now.
	CachedModules int
	// Preloaded counts the kept modules new workers compiled before their
	// first task (WithPreload).
	Preloaded uint64
}

type counters struct {
	runs, compiles, hits, diskHits, preloaded atomic.Uint64
}

// moduleCache holds compiled modules by digest (sha256 of the bytes). One
// compilation runs per digest at a time (single flight): concurrent runs of
// the same module wait for it, runs of different modules compile in
// parallel. A compilation runs in its own goroutine for as long as a run
// waits for it: each waiter leaves at its own deadline, and the last one
// to leave cancels it. Entries in use are never evicted.
type moduleCache struct {
	rt           wazero.Runtime
	max          int
	workers      int
	cacheDir     string
	maxDiskBytes int64 // bound of the files in cacheDir
	stats        *counters
	log          *slog.Logger

	// hookCompile, when set (tests), is called as a compilation starts.
	hookCompile func(digest [32]byte)

	pruneMu   sync.Mutex     // one pruning of cacheDir at a time
	compiling sync.WaitGroup // the compilation goroutines

	mu      sync.Mutex
	entries map[[32]byte]*cacheEntry
	tick    uint64
}

type cacheEntry struct {
	ready      chan struct{} // closed when cm/tableBytes/err are set
	cm         wazero.CompiledModule
	tableBytes int64 // host memory of the module's tables
	err        error
	done       bool // cm/err set; guarded by moduleCache.mu
	refs       int
	waiters    int                     // runs waiting for the compilation; guarded by moduleCache.mu
	cancel     context.CancelCauseFunc // stops the compilation
	lastUse    uint64
}

// has reports whether the module of digest is compiled (or compiling).
func (c *moduleCache) has(digest [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[digest] != nil
}

func (c *moduleCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// errAbandoned is the error of a compilation every waiter left.
var errAbandoned = errors.New("wasm: compilation abandoned: every run waiting for it stopped")

// get returns the compiled module of code, compiling it if needed, and a
// release function to call once the run no longer needs it. It returns
// when the module is ready or when ctx is done, whichever comes first.
func (c *moduleCache) get(ctx context.Context, digest [32]byte, code []byte) (*cacheEntry, func(), error) {
	c.mu.Lock()
	e, hit := c.entries[digest]
	if !hit {
		cctx, cancel := context.WithCancelCause(context.Background())
		e = &cacheEntry{ready: make(chan struct{}), cancel: cancel}
		c.entries[digest] = e
		c.compiling.Add(1)
		go c.compile(cctx, digest, e, code)
	}
	e.refs++
	e.waiters++
	c.mu.Unlock()

	select {
	case <-e.ready:
		c.mu.Lock()
		e.waiters--
		c.mu.Unlock()
	case <-ctx.Done():
		c.mu.Lock()
		e.waiters--
		if e.waiters == 0 && !e.done {
			// Nobody waits any more: stop compiling, and let the next run
			// of this module start a compilation of its own.
			e.cancel(errAbandoned)
			if c.entries[digest] == e {
				delete(c.entries, digest)
			}
		}
		c.mu.Unlock()
		c.release(e)
		return nil, nil, context.Cause(ctx)
	}
	if e.err != nil {
		c.release(e)
		return nil, nil, e.err
	}
	if hit {
		c.stats.hits.Add(1)
	}
	return e, func() { c.release(e) }, nil
}

// compile compiles code for e and publishes the outcome.
func (c *moduleCache) compile(ctx context.Context, digest [32]byte, e *cacheEntry, code []byte) {
	defer c.compiling.Done()
	if c.hookCompile != nil {
		c.hookCompile(digest)
	}
	cm, tableBytes, err := c.compileCode(ctx, code)
	c.mu.Lock()
	e.done = true
	switch {
	case err == nil && c.entries[digest] != e: // abandoned while finishing
		_ = cm.Close(context.Background())
		err = errAbandoned
	case err != nil && c.entries[digest] == e:
		delete(c.entries, digest) // do not keep failures: a cancelled compile may succeed next time
	}
	e.cm, e.tableBytes, e.err = cm, tableBytes, err
	c.mu.Unlock()
	e.cancel(nil)
	close(e.ready)
	c.release(nil) // evict past the bound now that e is done
}

func (c *moduleCache) compileCode(ctx context.Context, code []byte) (wazero.CompiledModule, int64, error) {
	tableBytes, err := checkTables(code)
	if err != nil {
		return nil, 0, err
	}
	var before map[string]bool
	if c.cacheDir != "" {
		before = cacheFiles(c.cacheDir)
	}
	c.stats.compiles.Add(1)
	code = coalesceData(code) // see dataseg.go: fewer segments to instantiate
	// With one worker wazero does not look at ctx while compiling, so use
	// at least two: the compilation then stops between functions.
	cm, err := c.rt.CompileModule(experimental.WithCompilationWorkers(ctx, max(c.workers, 2)), code)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, context.Cause(ctx)
		}
		return nil, 0, fmt.Errorf("%w: %w%s", exec.ErrInvalidModule, err, featureHint(err))
	}
	if c.cacheDir != "" {
		wrote := false
		for name := range cacheFiles(c.cacheDir) {
			if !before[name] {
				wrote = true
				break
			}
		}
		if !wrote {
			c.stats.diskHits.Add(1)
		} else {
			c.prune()
		}
	}
	return cm, tableBytes, nil
}

// featureHint explains a module refused for a disabled feature.
func featureHint(err error) string {
	if strings.Contains(err.Error(), "reference-types") {
		return " (this executor runs modules without the reference-types feature, whose table.grow would let a module take host memory past its limit; build the module without it, e.g. Rust: -C target-feature=-reference-types)"
	}
	return ""
}

// release drops a reference to e (nil: none) and evicts the least recently
// used idle modules past the bound.
func (c *moduleCache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	if e != nil {
		e.refs--
		e.lastUse = c.tick
	}
	for len(c.entries) > c.max {
		var (
			oldest *cacheEntry
			key    [32]byte
		)
		for k, x := range c.entries {
			if x.refs == 0 && x.done && x.err == nil && (oldest == nil || x.lastUse < oldest.lastUse) {
				oldest, key = x, k
			}
		}
		if oldest == nil {
			return // all in use
		}
		delete(c.entries, key)
		_ = oldest.cm.Close(context.Background()) // only frees memory
	}
}

// cacheFiles lists the finished files under dir (wazero writes a file as
// NAME.*.tmp, then renames it).
func cacheFiles(dir string) map[string]bool {
	names := map[string]bool{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, ".tmp") {
			names[p] = true
		}
		return nil
	})
	return names
}

// prune removes the oldest files of the cache directory until it holds at
// most maxDiskBytes. wazero's directory cache has no bound of its own.
// "Oldest" is by modification time: wazero writes a file once, when it
// compiles the module, and reading it does not touch it, so a module used
// every day but compiled long ago goes first and is compiled again.
func (c *moduleCache) prune() {
	c.pruneMu.Lock()
	defer c.pruneMu.Unlock()
	type file struct {
		path string
		size int64
		mod  int64
	}
	var (
		files []file
		total int64
	)
	_ = filepath.WalkDir(c.cacheDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".tmp") {
			return nil
		}
		if st, err := d.Info(); err == nil {
			files = append(files, file{p, st.Size(), st.ModTime().UnixNano()})
			total += st.Size()
		}
		return nil
	})
	if total <= c.maxDiskBytes {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(a.mod, b.mod) })
	removed := 0
	for _, f := range files {
		if total <= c.maxDiskBytes {
			break
		}
		if err := os.Remove(f.path); err == nil || errors.Is(err, fs.ErrNotExist) {
			total -= f.size
			removed++
		}
	}
	c.log.Info("pruned the compilation cache", "dir", c.cacheDir, "removed", removed, "bytes", total, "bound", c.maxDiskBytes)
}
