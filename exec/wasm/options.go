package wasm

import (
	"fmt"
	"log/slog"
	"runtime"
)

// Defaults of the executor's options.
const (
	// DefaultMaxMemory is the largest Limits.MemoryBytes accepted: 4 GiB,
	// all a wasm32 module can address.
	DefaultMaxMemory int64 = 4 << 30
	// DefaultMaxCachedModules is how many compiled modules stay in memory.
	DefaultMaxCachedModules = 32
	// DefaultMaxModuleBytes is the largest module accepted: 64 MiB. A Go
	// "hello" is 2.6 MB, a large Go program 30 to 50 MB; compiling 64 MiB
	// takes tens of seconds of CPU.
	DefaultMaxModuleBytes int64 = 64 << 20
	// DefaultMaxCacheBytes bounds the compiled machine code kept in the
	// cache directory ([WithCacheDir]): 1 GiB, about 100 large Go programs.
	DefaultMaxCacheBytes int64 = 1 << 30
	// DefaultWorkerOverhead is what a worker process may map beyond the
	// largest memory limit of a task (the Go runtime, wazero's compiler
	// and the machine code of the cached modules): the default address
	// space limit of a worker is WithMaxMemory plus this.
	DefaultWorkerOverhead uint64 = 3 << 30
)

const pageSize = 65536

type config struct {
	cacheDir         string
	maxMemory        int64
	maxCachedModules int
	compileWorkers   int
	maxModuleBytes   int64
	maxCacheBytes    int64
	log              *slog.Logger

	workers         int // 0: run modules in this process
	workerCmd       WorkerCmd
	addressSpace    uint64 // RLIMIT_AS of a worker, 0: none
	addressSpaceSet bool   // else maxMemory + DefaultWorkerOverhead
	nice            int    // the workers' nice value, 0: the daemon's
	preloadDir      string // WithPreload; "": none
	preloadN        int
}

func defaultConfig() config {
	return config{
		maxMemory:        DefaultMaxMemory,
		maxCachedModules: DefaultMaxCachedModules,
		compileWorkers:   runtime.GOMAXPROCS(0),
		maxModuleBytes:   DefaultMaxModuleBytes,
		maxCacheBytes:    DefaultMaxCacheBytes,
		log:              slog.Default(),
	}
}

// Option configures an [Executor].
type Option func(*config) error

// WithCacheDir keeps compiled machine code in dir (created if missing) so
// that a new executor on the same dir, for example after a node restart,
// loads it instead of compiling. The node passes $REPO/wasm-cache. Default:
// no disk cache.
func WithCacheDir(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return fmt.Errorf("wasm: empty cache dir")
		}
		c.cacheDir = dir
		return nil
	}
}

// WithMaxMemory sets the largest memory limit a task may ask for, in bytes
// (at least one 64 KiB page, at most [DefaultMaxMemory], the default). Tasks
// asking for more are refused with exec.ErrInvalidTask.
func WithMaxMemory(bytes int64) Option {
	return func(c *config) error {
		if bytes < pageSize || bytes > DefaultMaxMemory {
			return fmt.Errorf("wasm: max memory %d bytes out of range [%d, %d]", bytes, pageSize, DefaultMaxMemory)
		}
		c.maxMemory = bytes
		return nil
	}
}

// WithMaxCachedModules bounds how many compiled modules are kept in memory
// (default [DefaultMaxCachedModules]); the least recently used idle module
// is dropped first.
func WithMaxCachedModules(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("wasm: max cached modules %d < 1", n)
		}
		c.maxCachedModules = n
		return nil
	}
}

// WithMaxModuleBytes bounds the size of a module (default
// [DefaultMaxModuleBytes]); a larger one is refused with
// exec.ErrInvalidModule before it is read or compiled.
func WithMaxModuleBytes(n int64) Option {
	return func(c *config) error {
		if n < 8 {
			return fmt.Errorf("wasm: max module bytes %d < 8 (the size of an empty module)", n)
		}
		c.maxModuleBytes = n
		return nil
	}
}

// WithMaxCacheBytes bounds the bytes of the cache directory (default
// [DefaultMaxCacheBytes]): after a compilation that wrote to it, the oldest
// files are removed until it fits.
func WithMaxCacheBytes(n int64) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("wasm: max cache bytes %d < 0", n)
		}
		c.maxCacheBytes = n
		return nil
	}
}

// WithCompileWorkers sets how many goroutines compile one module (default
// GOMAXPROCS; at least 2 are used, since wazero checks the compilation's
// deadline only between the functions it hands to its workers).
func WithCompileWorkers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("wasm: compile workers %d < 1", n)
		}
		c.compileWorkers = n
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("wasm: nil logger")
		}
		c.log = l
		return nil
	}
}

// WorkerCmd is how to start a worker process: an executable that calls
// [ServeWorker] on its stdin and stdout. The shoal daemon re-executes
// itself: Path is its own executable and Args is [WorkerCommand].
type WorkerCmd struct {
	Path string
	Args []string
	// Env is the worker's whole environment (none by default: a module
	// sees only its task's).
	Env []string
}

// WithWorkers runs modules in up to n worker processes started with cmd,
// instead of in this process (the default, n = 0). The node uses one per
// slot. A worker's wazero runtime is built without WithCloseOnContextDone,
// so CPU-bound modules run at wazero's full speed; a task's timeout, a
// cancel and Close kill the worker running it (SIGKILL), and the pool
// starts another.
func WithWorkers(n int, cmd WorkerCmd) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("wasm: workers %d < 0", n)
		}
		if n > 0 && cmd.Path == "" {
			return fmt.Errorf("wasm: workers without a command to start them")
		}
		c.workers, c.workerCmd = n, cmd
		return nil
	}
}

// WithWorkerNice runs the worker processes at nice value n (1 to 19;
// default 0, the daemon's own), so that CPU-bound modules yield the CPU to
// the daemon and to other processes of the machine. The value holds for
// every thread of a worker: the pool forks workers from one thread whose
// own nice value it sets (Linux keeps nice per thread, and a thread
// inherits the value of the one that created it).
func WithWorkerNice(n int) Option {
	return func(c *config) error {
		if n < 0 || n > 19 {
			return fmt.Errorf("wasm: worker nice %d outside 0..19 (raising priority is not offered)", n)
		}
		c.nice = n
		return nil
	}
}

// WithWorkerAddressSpace sets the address space limit (RLIMIT_AS) of each
// worker process, in bytes; default WithMaxMemory plus
// [DefaultWorkerOverhead]; 0 sets none (a worker built with the race
// detector maps terabytes). A worker that passes it dies, and its task
// fails with exec.ErrMemoryLimit; so does a task whose memory limit does
// not fit in it (a worker reserves the limit for the module's memory when
// the module starts). It must leave room for the Go runtime and wazero,
// which map about 1.5 GiB (at least 2 GiB).
func WithWorkerAddressSpace(bytes uint64) Option {
	return func(c *config) error {
		if bytes != 0 && bytes < 2<<30 {
			return fmt.Errorf("wasm: worker address space %d bytes < 2 GiB", bytes)
		}
		c.addressSpace, c.addressSpaceSet = bytes, true
		return nil
	}
}
