package wasm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/internal/capture"
	"github.com/shoalnet/shoal/exec/internal/runctx"
)

// ExitCodeTrap is the Result.ExitCode of a module that trapped, as a shell
// reports a process aborted by SIGABRT (128+6).
const ExitCodeTrap = 134

// argv0 is the program name the module sees in argv[0].
const argv0 = "main.wasm"

// Run runs t's module to completion. See the package documentation for the
// sandbox, traps and errors.
func (e *Executor) Run(ctx context.Context, t *exec.Task) (*exec.Result, error) {
	start := time.Now()
	if err := t.Validate(exec.EngineWASM); err != nil {
		return nil, fmt.Errorf("wasm: %w", err)
	}
	if err := e.begin(); err != nil {
		return nil, fmt.Errorf("wasm: task %q: %w", t.ID, err)
	}
	defer e.runs.Done()
	res, err := e.run(ctx, t, start)
	if err != nil {
		err = fmt.Errorf("wasm: task %q: %w", t.ID, err)
	}
	return res, err
}

// checkTask validates what both paths (in process, worker) check before a
// run and returns the task's memory limit, module bytes and digest.
func (e *Executor) checkTask(t *exec.Task) (int64, []byte, [32]byte, error) {
	limit := t.Limits.MemoryOrDefault()
	if limit > e.cfg.maxMemory || limit < pageSize {
		return 0, nil, [32]byte{}, fmt.Errorf("%w: memory limit %d bytes is out of this executor's range [%d, %d]",
			exec.ErrInvalidTask, limit, pageSize, e.cfg.maxMemory)
	}
	code, err := e.moduleBytes(t.WASM)
	if err != nil {
		return 0, nil, [32]byte{}, err
	}
	digest := t.WASM.Digest
	if digest == ([32]byte{}) {
		digest = sha256.Sum256(code)
	}
	return limit, code, digest, nil
}

func (e *Executor) run(ctx context.Context, t *exec.Task, start time.Time) (*exec.Result, error) {
	limit, code, digest, err := e.checkTask(t)
	if err != nil {
		return nil, err
	}
	if e.pool != nil {
		return e.runInWorker(ctx, t, start, limit, code, digest)
	}

	// prepCtx stops with the caller or Close; runCtx adds the task timeout,
	// which covers the compilation and the run.
	prepCtx, cancel := runctx.Prepare(ctx, e.closeCtx)
	defer cancel()
	runCtx, cancelRun := runctx.Run(prepCtx, t.Timeout)
	defer cancelRun()

	stdout, stderr := capture.NewTapped(t.StdoutLimit(), t.StdoutTap), capture.NewTapped(t.StderrLimit(), t.StderrTap)
	res, err := e.runModule(runCtx, t, start, limit, code, digest, stdout, stderr, t.Stdin)
	if res != nil {
		res.Stdout, res.StdoutTruncated = stdout.Bytes(), stdout.Truncated()
		res.Stderr, res.StderrTruncated = stderr.Bytes(), stderr.Truncated()
	}
	return res, err
}

// outputSink receives a stream of the module: Write for what the module
// writes, Append for the engine's own diagnostics (kept past the cap).
type outputSink interface {
	io.Writer
	Append([]byte)
}

// runModule compiles (or finds) the module and runs it under runCtx, its
// streams going to stdout, stderr and coming from stdin (nil: empty). The
// Result it returns has no Stdout/Stderr: the caller owns the sinks. In a
// worker process runCtx is never done: the daemon kills the process instead.
func (e *Executor) runModule(runCtx context.Context, t *exec.Task, start time.Time, limit int64, code []byte, digest [32]byte,
	stdout, stderr outputSink, stdin io.Reader) (*exec.Result, error) {
	m, release, err := e.modules.get(runCtx, digest, code)
	if err != nil {
		if runCtx.Err() != nil { // stopped while compiling: an empty Result, as for any stopped run
			d := time.Since(start)
			return &exec.Result{ExitCode: -1, OutputsDir: t.OutputsDir, Timings: exec.Timings{Prepare: d, Total: d}},
				runctx.StopReason(runCtx, t.Timeout)
		}
		return nil, err
	}
	defer release()
	cm := m.cm
	entry := entrypoint(t.WASM)
	if err := checkEntrypoint(cm, entry); err != nil {
		return nil, err
	}
	if err := checkInitialMemory(cm, m.tableBytes, limit); err != nil {
		return nil, err
	}
	disk := newDiskBudget(t.Limits.DiskOrDefault())
	fsc, roots, err := mountFS(t, disk)
	if err != nil {
		return nil, err
	}
	defer roots.Close()

	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // the entrypoint is called below, so a missing one is an error
		WithArgs(append([]string{argv0}, t.Args...)...).
		WithStdout(stdout).
		WithStderr(stderr).
		WithFSConfig(fsc)
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		mc = mc.WithEnv(k, t.Env[k])
	}
	seed := t.WASM.Seed
	if seed == ([32]byte{}) {
		seed = digest
	}
	mc = withClocks(runCtx, mc, t.WASM.Deterministic, seed)
	if stdin != nil {
		in, stop := ctxReader(runCtx, stdin)
		defer stop()
		mc = mc.WithStdin(in)
	}
	alloc := newLimitAllocator(limit, m.tableBytes)
	alloc.mmap = e.mmapMemory

	res := &exec.Result{OutputsDir: t.OutputsDir}
	runStart := time.Now()
	res.Timings.Prepare = runStart.Sub(start)
	e.stats.runs.Add(1)

	mod, callErr := e.instantiate(experimental.WithMemoryAllocator(runCtx, alloc), cm, mc)
	if mod != nil {
		_, callErr = mod.ExportedFunction(entry).Call(runCtx)
	}
	cleanupStart := time.Now()
	res.Timings.Run = cleanupStart.Sub(runStart)
	if mod != nil {
		_ = mod.Close(context.Background()) // the module may already be closed by proc_exit
	}

	var (
		stopErr error
		exitErr *sys.ExitError
	)
	switch {
	case callErr == nil:
	case errors.As(callErr, &exitErr) && exitErr.ExitCode() != sys.ExitCodeContextCanceled && exitErr.ExitCode() != sys.ExitCodeDeadlineExceeded:
		res.ExitCode = int(exitErr.ExitCode())
	case runCtx.Err() != nil:
		stopErr = runctx.StopReason(runCtx, t.Timeout)
		res.ExitCode = -1
	case mod == nil && alloc.exceeded() == 0:
		// Instantiation failed for another reason than memory: the module
		// does not link (unknown import) or its start function failed.
		return nil, fmt.Errorf("%w: instantiate: %w", exec.ErrInvalidModule, callErr)
	default:
		res.ExitCode, res.Trap = ExitCodeTrap, callErr.Error()
		stderr.Append([]byte("\nwasm trap: " + callErr.Error() + "\n"))
	}
	if alloc.reserveErr != nil && stopErr == nil {
		// The worker's address space cannot hold the task's limit: say so
		// rather than report wazero's failure to set up the memory.
		res.ExitCode = -1
		stopErr = fmt.Errorf("%w: the worker process could not hold the task's memory limit of %d bytes within its address space limit (wasm.WithWorkerAddressSpace): %w",
			exec.ErrMemoryLimit, limit, alloc.reserveErr)
	}
	if stopErr == nil && res.ExitCode != 0 && alloc.exceeded() > 0 {
		stopErr = fmt.Errorf("%w: the module failed after growing its memory to %d bytes was refused (limit %d bytes, of which its tables take %d)",
			exec.ErrMemoryLimit, alloc.exceeded(), limit, m.tableBytes)
	}
	if n := disk.exceeded(); stopErr == nil && n > 0 {
		// A refused write fails the run even if the module went on: its
		// outputs are incomplete.
		stopErr = fmt.Errorf("%w: a write would have brought the outputs to %d bytes, past the task's disk limit of %d bytes (files count for their size, each file or directory for %d bytes)",
			exec.ErrDiskLimit, n, t.Limits.DiskOrDefault(), entryBytes)
		stderr.Append([]byte(fmt.Sprintf("\nwasm: write refused: outputs would take %d bytes, limit %d bytes\n", n, t.Limits.DiskOrDefault())))
	}

	end := time.Now()
	res.Timings.Cleanup = end.Sub(cleanupStart)
	res.Timings.Total = end.Sub(start)
	e.log.Debug("run", "task", t.ID, "exit", res.ExitCode, "err", stopErr,
		"prepare", res.Timings.Prepare, "run", res.Timings.Run, "total", res.Timings.Total)
	return res, stopErr
}

// instantiate instantiates the module, turning a panic of wazero (its
// memory setup panics when an allocator refuses the initial size) into an
// error.
func (e *Executor) instantiate(ctx context.Context, cm wazero.CompiledModule, mc wazero.ModuleConfig) (mod api.Module, err error) {
	defer func() {
		if r := recover(); r != nil {
			mod, err = nil, fmt.Errorf("instantiate: %v", r)
		}
	}()
	return e.rt.InstantiateModule(ctx, cm, mc)
}

// checkInitialMemory refuses a module whose tables and declared initial
// memory are above the limit.
func checkInitialMemory(cm wazero.CompiledModule, tableBytes, limit int64) error {
	mems := slices.Collect(maps.Values(cm.ExportedMemories()))
	mems = append(mems, cm.ImportedMemories()...)
	var need int64
	for _, m := range mems {
		need = max(need, int64(m.Min())*pageSize)
	}
	if need+tableBytes > limit {
		return fmt.Errorf("%w: the module needs %d bytes of memory to start (linear memory %d, tables %d), limit %d bytes",
			exec.ErrMemoryLimit, need+tableBytes, need, tableBytes, limit)
	}
	return nil
}
