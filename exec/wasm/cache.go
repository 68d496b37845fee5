package wasm

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
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
	// by the compilation), so another process compiling into the same
	// directory at the same moment can skew it.
	DiskCacheHits uint64
	// CachedModules is the number of compiled modules held in memory now.
	CachedModules int
}

type counters struct {
	runs, compiles, hits, diskHits atomic.Uint64
}

// moduleCache holds compiled modules by digest (sha256 of the bytes). One
// compilation runs per digest at a time; concurrent runs of the same module
// wait for it. Entries in use are never evicted.
type moduleCache struct {
	rt       wazero.Runtime
	max      int
	workers  int
	cacheDir string
	stats    *counters

	compileMu sync.Mutex // serializes compilations when cacheDir is set, for DiskCacheHits

	mu      sync.Mutex
	entries map[[32]byte]*cacheEntry
	tick    uint64
}

type cacheEntry struct {
	ready   chan struct{} // closed when cm/err are set
	cm      wazero.CompiledModule
	err     error
	done    bool // cm/err set; guarded by moduleCache.mu
	refs    int
	lastUse uint64
}

func (c *moduleCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// get returns the compiled module of code, compiling it if needed, and a
// release function to call once the run no longer needs it.
func (c *moduleCache) get(ctx context.Context, digest [32]byte, code []byte) (wazero.CompiledModule, func(), error) {
	c.mu.Lock()
	e, ok := c.entries[digest]
	if ok {
		e.refs++
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			c.release(e)
			return nil, nil, context.Cause(ctx)
		}
		if e.err != nil {
			c.release(e)
			return nil, nil, e.err
		}
		c.stats.hits.Add(1)
		return e.cm, func() { c.release(e) }, nil
	}
	e = &cacheEntry{ready: make(chan struct{}), refs: 1}
	c.entries[digest] = e
	c.mu.Unlock()

	e.cm, e.err = c.compile(ctx, code)
	c.mu.Lock()
	e.done = true
	if e.err != nil {
		delete(c.entries, digest) // do not keep failures: a cancelled compile may succeed next time
	}
	c.mu.Unlock()
	close(e.ready)
	if e.err != nil {
		c.release(e)
		return nil, nil, e.err
	}
	return e.cm, func() { c.release(e) }, nil
}

func (c *moduleCache) compile(ctx context.Context, code []byte) (wazero.CompiledModule, error) {
	var before int
	if c.cacheDir != "" {
		c.compileMu.Lock()
		defer c.compileMu.Unlock()
		before = countFiles(c.cacheDir)
	}
	c.stats.compiles.Add(1)
	cm, err := c.rt.CompileModule(experimental.WithCompilationWorkers(ctx, c.workers), code)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", exec.ErrInvalidModule, err)
	}
	if c.cacheDir != "" && countFiles(c.cacheDir) <= before {
		c.stats.diskHits.Add(1)
	}
	return cm, nil
}

func (c *moduleCache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	c.tick++
	e.lastUse = c.tick
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

// countFiles counts the regular files under dir.
func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
