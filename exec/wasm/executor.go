package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/shoalnet/shoal/exec"
)

// Executor runs tasks as WebAssembly modules. Create it with [New]; it is
// safe for concurrent use.
type Executor struct {
	cfg     config
	log     *slog.Logger
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	modules *moduleCache // nil with a pool
	pool    *pool        // nil in process
	// mmapMemory backs linear memories with an mmap of the task's limit
	// (worker processes, one run at a time).
	mmapMemory bool
	stats      counters
	// used: the digests of the modules kept for preloading that ran
	// since this executor started (each marked used once; forgotten all
	// at once past maxUsed, so a module may be marked again).
	usedMu sync.Mutex
	used   map[[32]byte]bool

	closeCtx    context.Context // cancelled by Close, stops runs in progress
	closeCancel context.CancelCauseFunc

	mu     sync.Mutex
	closed bool
	runs   sync.WaitGroup
}

var _ exec.Executor = (*Executor)(nil)

// New returns an executor with its runtime ready (or, with [WithWorkers],
// its pool of worker processes starting). ctx bounds only the setup.
func New(ctx context.Context, opts ...Option) (*Executor, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.workers > 0 {
		if cfg.cacheDir != "" {
			if err := os.MkdirAll(cfg.cacheDir, 0o700); err != nil {
				return nil, fmt.Errorf("wasm: compilation cache in %s: %w", cfg.cacheDir, err)
			}
		}
		e := &Executor{cfg: cfg, log: cfg.log.With("engine", exec.EngineWASM)}
		e.closeCtx, e.closeCancel = context.WithCancelCause(context.Background())
		e.pool = newPool(e)
		return e, nil
	}
	return newLocal(ctx, cfg, true)
}

// newLocal returns an executor running modules in this process. stoppable
// builds the runtime with WithCloseOnContextDone (the in-process path);
// a worker process builds it without.
func newLocal(ctx context.Context, cfg config, stoppable bool) (*Executor, error) {
	var (
		cache wazero.CompilationCache
		err   error
	)
	if cfg.cacheDir != "" {
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.cacheDir); err != nil {
			return nil, fmt.Errorf("wasm: compilation cache in %s: %w", cfg.cacheDir, err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(stoppable).
		WithMemoryLimitPages(uint32(cfg.maxMemory / pageSize)).
		WithCoreFeatures(coreFeatures).
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		_ = cache.Close(ctx)
		return nil, fmt.Errorf("wasm: instantiate WASI: %w", err)
	}
	e := &Executor{
		cfg:   cfg,
		log:   cfg.log.With("engine", exec.EngineWASM),
		rt:    rt,
		cache: cache,
	}
	e.modules = &moduleCache{
		rt:           rt,
		max:          cfg.maxCachedModules,
		workers:      cfg.compileWorkers,
		cacheDir:     cfg.cacheDir,
		maxDiskBytes: cfg.maxCacheBytes,
		stats:        &e.stats,
		log:          e.log,
		entries:      map[[32]byte]*cacheEntry{},
	}
	if cfg.cacheDir != "" {
		e.modules.prune()
	}
	e.closeCtx, e.closeCancel = context.WithCancelCause(context.Background())
	return e, nil
}

// Engine returns exec.EngineWASM.
func (e *Executor) Engine() string { return exec.EngineWASM }

// Stats returns the executor's counters.
func (e *Executor) Stats() Stats {
	cached := 0
	if e.pool != nil {
		cached = e.pool.cachedModules()
	} else {
		cached = e.modules.size()
	}
	return Stats{
		Runs:          e.stats.runs.Load(),
		Compiles:      e.stats.compiles.Load(),
		CacheHits:     e.stats.hits.Load(),
		DiskCacheHits: e.stats.diskHits.Load(),
		CachedModules: cached,
		Preloaded:     e.stats.preloaded.Load(),
	}
}

// Close stops the runs in progress, waits for them and releases the
// runtime, its compiled modules and the compilation cache (the files in the
// cache directory stay). It is safe to call more than once.
func (e *Executor) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.closeCancel(exec.ErrClosed)
	e.runs.Wait()
	if e.pool != nil {
		return e.pool.close()
	}
	e.modules.compiling.Wait() // their waiters are gone, so they are cancelled
	ctx := context.Background()
	return errors.Join(e.rt.Close(ctx), e.cache.Close(ctx))
}

// begin registers a run; the caller calls e.runs.Done when it ends.
func (e *Executor) begin() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return exec.ErrClosed
	}
	e.runs.Add(1)
	return nil
}

// Precompile compiles the module of spec into the cache (memory, and disk
// with WithCacheDir) and checks that it exports its entrypoint, so a node
// can validate and warm a module before a task needs it.
func (e *Executor) Precompile(ctx context.Context, spec *exec.WASMSpec) error {
	if err := e.begin(); err != nil {
		return fmt.Errorf("wasm: precompile: %w", err)
	}
	defer e.runs.Done()
	code, err := e.moduleBytes(spec)
	if err != nil {
		return fmt.Errorf("wasm: precompile: %w", err)
	}
	digest := spec.Digest
	if digest == ([32]byte{}) {
		digest = sha256.Sum256(code)
	}
	if e.pool != nil {
		err = e.precompileInWorker(ctx, digest, code, entrypoint(spec))
	} else {
		err = e.precompile(ctx, digest, code, entrypoint(spec))
	}
	if err != nil {
		return fmt.Errorf("wasm: precompile: %w", err)
	}
	return nil
}

// precompile compiles code into this process's cache and checks its
// entrypoint.
func (e *Executor) precompile(ctx context.Context, digest [32]byte, code []byte, entry string) error {
	m, release, err := e.modules.get(ctx, digest, code)
	if err != nil {
		return err
	}
	defer release()
	return checkEntrypoint(m.cm, entry)
}

// moduleBytes returns the module of spec, refusing one above the size
// bound before reading it.
func (e *Executor) moduleBytes(spec *exec.WASMSpec) ([]byte, error) {
	max := e.cfg.maxModuleBytes
	tooBig := func(n int64) error {
		return fmt.Errorf("%w: the module is %d bytes, more than this executor's bound of %d bytes (wasm.WithMaxModuleBytes)", exec.ErrInvalidModule, n, max)
	}
	switch {
	case spec == nil:
		return nil, fmt.Errorf("%w: no WASM spec", exec.ErrInvalidTask)
	case len(spec.Module) > 0:
		if int64(len(spec.Module)) > max {
			return nil, tooBig(int64(len(spec.Module)))
		}
		return spec.Module, nil
	case spec.ModulePath != "":
		f, err := os.Open(spec.ModulePath)
		if err != nil {
			return nil, fmt.Errorf("%w: read module: %w", exec.ErrInvalidTask, err)
		}
		defer f.Close()
		var buf bytes.Buffer
		if st, err := f.Stat(); err == nil {
			if st.Size() > max {
				return nil, tooBig(st.Size())
			}
			// One allocation of the file's size (and the read that finds
			// its end), not io.ReadAll's doubling: a Go module is MiBs.
			buf.Grow(int(st.Size()) + bytes.MinRead)
		}
		if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
			return nil, fmt.Errorf("%w: read module: %w", exec.ErrInvalidTask, err)
		}
		if int64(buf.Len()) > max {
			return nil, tooBig(int64(buf.Len()))
		}
		return buf.Bytes(), nil
	default:
		return nil, fmt.Errorf("%w: empty module", exec.ErrInvalidModule)
	}
}

func entrypoint(spec *exec.WASMSpec) string {
	if spec.Entrypoint != "" {
		return spec.Entrypoint
	}
	return "_start"
}

func checkEntrypoint(cm wazero.CompiledModule, name string) error {
	def, ok := cm.ExportedFunctions()[name]
	if !ok {
		return fmt.Errorf("%w: the module exports no function %q (set WASMSpec.Entrypoint)", exec.ErrInvalidModule, name)
	}
	if len(def.ParamTypes()) != 0 {
		return fmt.Errorf("%w: entrypoint %q takes %d parameters, want none", exec.ErrInvalidModule, name, len(def.ParamTypes()))
	}
	return nil
}
