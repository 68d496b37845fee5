// Package wasm runs exec tasks as WebAssembly (WASI preview 1) modules with
// wazero, with no network: in worker processes ([WithWorkers]) or in this
// process (the default).
//
// # Sandbox
//
// A module sees only what the task gives it: its arguments, its environment
// (nothing from the host's), its stdin, the task's inputs read-only and the
// outputs directory read-write. There are no sockets. No symlink of the host
// is followed to reach a mount: an input whose source is a symlink, or lies
// under a symlinked directory, is refused ([ErrSymlink], with
// exec.ErrInvalidTask), and so is such an OutputsDir; what is opened is
// checked to be what Lstat saw. Inputs and outputs are served through file
// systems that refuse to leave their directory: input directories are
// opened through an [os.Root] (a symlink inside pointing outside the input
// is not followed), file inputs are opened once when mounted, and the
// outputs file system refuses to create symlinks or hard links and paths
// with "..". An OutputsDir must not contain symlinks when the run starts.
//
// Writes to the outputs are counted against Limits.DiskBytes (a file counts
// for its size, holes included; each file or directory created for 4 KiB):
// a write or truncate past it fails with EIO inside the module (wazero has
// no ENOSPC) and Run returns an error wrapping exec.ErrDiskLimit with the
// partial Result.
//
// # Runtime, compilation cache and memory limits
//
// An [Executor] holds one wazero Runtime for its whole life, because compiled
// modules belong to the runtime that compiled them. Modules are compiled once
// per digest (sha256 of the module bytes) and kept in memory (up to
// [WithMaxCachedModules], least recently used first out); with [WithCacheDir]
// wazero also keeps the machine code on disk, so a new executor (a restarted
// node) skips compilation. [Executor.Stats] counts both.
//
// Modules are refused before compiling when larger than
// [WithMaxModuleBytes] (default 64 MiB). Compilation runs under the task's
// Timeout and the caller's context, in a goroutine of its own per module
// digest (single flight): runs of different modules compile in parallel,
// runs of the same module wait for one compilation, and the compilation is
// cancelled when the last run waiting for it stops. The cache directory is
// kept under [WithMaxCacheBytes] (default 1 GiB) by removing the oldest
// files after a compilation that wrote to it.
//
// The per-task memory limit cannot be a runtime setting when the runtime is
// shared (wazero applies RuntimeConfig.WithMemoryLimitPages at compile time
// to every module of the runtime). So the runtime is configured with the
// executor's ceiling ([WithMaxMemory], default 4 GiB, the wasm32 maximum), and
// each run installs its own memory allocator (wazero's
// experimental.WithMemoryAllocator) that refuses to grow the linear memory
// past that task's Limits.MemoryBytes. A refused grow makes memory.grow
// return -1 to the module; if the module then fails (non-zero exit or trap),
// Run returns an error wrapping [exec.ErrMemoryLimit] with the partial Result.
// The alternative, one runtime per distinct limit, would compile each module
// once per limit and multiply the memory held by compiled code.
//
// Tables are host memory too: the runtime is built without the
// reference-types feature, so table.grow does not exist and a table keeps
// the size it declares; the table entries (8 bytes each, at most
// [MaxTableEntries]) are counted in the task's limit, and linear memory gets
// what is left. The call stack is outside the limit: wazero's compiler
// bounds it with a fixed ceiling, [CallStackMaxBytes] of allocation per run.
//
// # Worker processes
//
// With [WithWorkers] the executor keeps a pool of up to n worker processes
// (an executable calling [ServeWorker]: the shoal binary's hidden
// `__wasm-worker` command), started ahead and replaced when one dies, each
// running one task at a time with its own runtime and in-memory cache of
// compiled modules; the disk cache ([WithCacheDir]) is shared. The daemon
// reads and hashes the module and sends the task (mounts, args, env,
// limits, no bytes); the worker asks for the bytes only when it has not
// compiled that digest. Stdin is streamed to the worker and stdout/stderr
// back, in size-bounded frames; the daemon keeps them under the caps, so a
// killed run still returns what the module wrote.
//
// A worker's runtime is built without WithCloseOnContextDone, so compiled
// code checks no cancellation and runs at wazero's full speed. The task's
// Timeout, the caller's context and Close stop a run by killing its worker
// (SIGKILL): the same errors as in process. A worker that dies otherwise
// fails its run with [ErrWorkerCrashed], or with exec.ErrMemoryLimit when
// it ran out of its address space ([WithWorkerAddressSpace]). Workers get
// only their three pipes as descriptors and an empty environment, set
// PR_SET_NO_NEW_PRIVS, no core dumps and RLIMIT_AS, die with the daemon
// (Pdeathsig), and back each run's linear memory with one mmap of its
// limit.
//
// # Stopping
//
// In process, the runtime is built with WithCloseOnContextDone, so a module
// spinning in a loop stops when the task's Timeout elapses
// ([exec.ErrTimeout]), when the caller's context is done or the executor
// closes ([exec.ErrKilled]). Sleeps and reads of stdin are interrupted as
// well.
//
// # Traps
//
// A trap (unreachable, out-of-bounds access, stack overflow...) is not an
// error of Run: the Result has ExitCode [ExitCodeTrap] and Stderr ends with a
// line "wasm trap: <message>", appended even past StderrCap.
//
// # Determinism
//
// With WASMSpec.Deterministic the module's wall clock starts at
// [DeterministicEpoch], both clocks advance 1 µs per reading and by the
// requested duration on sleep (a sleep still waits that long on the host,
// bounded by the run's context, but the clocks move by exactly what was
// asked), and random bytes come from a ChaCha8 stream seeded with
// WASMSpec.Seed (the module digest when it is zero). The worker processes
// of WithWorkers get the same settings in their task message. Otherwise
// the module gets the host clocks and crypto/rand.
//
// The package depends only on package exec (and its internal helpers)
// from this repository.
package wasm
