package exec

import (
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// Defaults applied when a Task leaves a field at its zero value.
const (
	// DefaultOutputsPath is where OutputsDir appears inside the sandbox.
	DefaultOutputsPath = "/outputs"
	// DefaultOutputCap bounds the stdout and the stderr kept from one run
	// (each). Writes beyond it are read and dropped, never blocked.
	DefaultOutputCap int64 = 1 << 20
	// DefaultMemoryBytes is the memory limit of a task that sets none.
	DefaultMemoryBytes int64 = 1 << 30
	// DefaultPids is the process/thread limit of a container task that
	// sets none. The wasm engine runs one thread and ignores it.
	DefaultPids int64 = 1024
	// DefaultDiskBytes is the disk limit of a task that sets none (the job
	// spec's default resources.disk).
	DefaultDiskBytes int64 = 1 << 30
)

// Task is one program to run with its inputs, outputs and limits. The
// caller owns it; executors do not modify it.
type Task struct {
	// ID names the run in logs, container names and labels. It should be
	// unique among the runs in progress on the node (the job or award ID).
	ID string

	// Exactly one of WASM and Docker is set, matching the executor's engine.
	WASM   *WASMSpec
	Docker *DockerSpec

	// Args are the program's arguments (argv[1:]); for Docker, when not
	// empty, they replace the image's CMD.
	Args []string
	// Env is the program's whole environment for wasm; for Docker it is
	// added to the image's.
	Env map[string]string
	// Stdin is read to EOF as the program's standard input; nil is empty.
	Stdin io.Reader

	// Inputs are host directories or files, each mounted read-only at its
	// Target inside the sandbox.
	Inputs []Mount
	// OutputsDir is a host directory mounted writable at OutputsPath
	// (default [DefaultOutputsPath]). Empty means no outputs mount. It is
	// created if it does not exist. The Docker engine gives the program an
	// empty, size-bounded directory there instead and copies its files into
	// OutputsDir after the exit (see Limits.DiskBytes).
	OutputsDir  string
	OutputsPath string

	// Limits bound the resources of the run.
	Limits Limits
	// Timeout bounds the run, from start to exit; 0 means none beyond the
	// caller's context. When it elapses Run returns an error wrapping
	// [ErrTimeout].
	Timeout time.Duration

	// StdoutCap and StderrCap bound how many bytes of each stream are kept
	// in the Result; 0 means [DefaultOutputCap].
	StdoutCap, StderrCap int64

	// StdoutTap and StderrTap, when set, receive a copy of each stream
	// while the program runs, as the engine reads it (the engine's own
	// diagnostics, such as a trap message, included). They are called
	// inline from the engine's copy of the stream and must not block: write
	// into a bounded buffer and drop what does not fit. Writes to one tap
	// are sequential; the two taps may be called concurrently. A tap sees
	// at least what the Result keeps; beyond the cap an engine may stop
	// reading the stream into the daemon (the wasm worker does), so a tap
	// is not a way around the cap. Their errors are ignored.
	StdoutTap, StderrTap io.Writer
}

// WASMSpec selects the WebAssembly module of a task.
type WASMSpec struct {
	// Module holds the module's bytes; or ModulePath names a host file
	// holding them. Exactly one is set.
	Module     []byte
	ModulePath string
	// Digest, when not zero, is the sha256 of the module's bytes as the
	// caller already knows it (for example from a cache of module bytes);
	// the executor then does not hash the module on every run. A wrong
	// digest makes the executor run another module compiled under it, so
	// only set it from the same bytes.
	Digest [32]byte
	// Entrypoint is the exported function to call; default "_start" (WASI
	// command).
	Entrypoint string
	// Deterministic runs the module with fixed clocks (wall time starts at
	// a fixed date and both clocks advance only when read or slept on) and
	// a random source seeded from Seed (the module's digest when Seed is
	// zero), so the same module with the same inputs produces the same
	// outputs on every node.
	Deterministic bool
	// Seed seeds the random source of a deterministic run when not zero
	// (the job market passes the sha256 of the job CID, so two jobs of one
	// module draw different bytes and one job draws the same everywhere).
	Seed [32]byte
}

// DockerSpec selects the container image of a task.
type DockerSpec struct {
	// Image names an image present on the engine ("name:tag" or an ID).
	// With ImageTar set it may be empty: the image loaded is used.
	Image string
	// ImageTar is the host path of a `docker save` tarball, loaded first
	// when Image is not already present.
	ImageTar string
	// Entrypoint replaces the image's ENTRYPOINT when non-empty.
	Entrypoint []string
}

// Mount makes a host path visible inside the sandbox, read-only.
type Mount struct {
	// Source is the host path of a directory or a regular file.
	Source string
	// Target is the absolute path inside the sandbox.
	Target string
}

// Limits bound the resources of one run. Zero values mean the defaults
// documented on each field.
type Limits struct {
	// CPU is the number of cores the run may use (1.5 = one and a half); 0
	// means no CPU limit. The wasm engine runs one thread and ignores it.
	CPU float64
	// MemoryBytes bounds the program's memory; 0 means
	// [DefaultMemoryBytes]. For wasm it bounds the linear memory (64 KiB
	// pages, rounded down); for Docker the container's cgroup (no swap).
	MemoryBytes int64
	// Pids bounds the processes and threads of a container; 0 means
	// [DefaultPids]. The wasm engine ignores it.
	Pids int64
	// DiskBytes bounds the bytes the program writes to its outputs; 0
	// means [DefaultDiskBytes]. A run that passes it returns an error
	// wrapping [ErrDiskLimit] with the partial Result. For wasm, writes
	// past it fail inside the program (EIO: WASI preview 1 as wazero
	// implements it has no ENOSPC). For Docker it sizes the tmpfs of the
	// outputs and, separately, of /tmp (the rest of the root filesystem is
	// read-only); tmpfs pages count in the container's memory limit.
	DiskBytes int64
}

// DiskOrDefault returns DiskBytes, or [DefaultDiskBytes] when unset.
func (l Limits) DiskOrDefault() int64 {
	if l.DiskBytes > 0 {
		return l.DiskBytes
	}
	return DefaultDiskBytes
}

// MemoryOrDefault returns MemoryBytes, or [DefaultMemoryBytes] when unset.
func (l Limits) MemoryOrDefault() int64 {
	if l.MemoryBytes > 0 {
		return l.MemoryBytes
	}
	return DefaultMemoryBytes
}

// PidsOrDefault returns Pids, or [DefaultPids] when unset.
func (l Limits) PidsOrDefault() int64 {
	if l.Pids > 0 {
		return l.Pids
	}
	return DefaultPids
}

// OutputsTarget returns OutputsPath, or [DefaultOutputsPath] when unset.
func (t *Task) OutputsTarget() string {
	if t.OutputsPath != "" {
		return t.OutputsPath
	}
	return DefaultOutputsPath
}

// StdoutLimit returns StdoutCap, or [DefaultOutputCap] when unset.
func (t *Task) StdoutLimit() int64 { return capOrDefault(t.StdoutCap) }

// StderrLimit returns StderrCap, or [DefaultOutputCap] when unset.
func (t *Task) StderrLimit() int64 { return capOrDefault(t.StderrCap) }

func capOrDefault(c int64) int64 {
	if c > 0 {
		return c
	}
	return DefaultOutputCap
}

// Validate checks t against the contract for the given engine and returns
// an error wrapping [ErrInvalidTask] that says what is wrong.
func (t *Task) Validate(engine string) error {
	if t == nil {
		return fmt.Errorf("%w: nil task", ErrInvalidTask)
	}
	if err := t.validate(engine); err != nil {
		return fmt.Errorf("%w: task %q: %s", ErrInvalidTask, t.ID, err)
	}
	return nil
}

func (t *Task) validate(engine string) error {
	switch engine {
	case EngineWASM:
		if t.WASM == nil || t.Docker != nil {
			return fmt.Errorf("the %s engine needs WASM set and Docker unset", engine)
		}
		if (len(t.WASM.Module) == 0) == (t.WASM.ModulePath == "") {
			return fmt.Errorf("set exactly one of WASM.Module and WASM.ModulePath")
		}
	case EngineDocker:
		if t.Docker == nil || t.WASM != nil {
			return fmt.Errorf("the %s engine needs Docker set and WASM unset", engine)
		}
		if t.Docker.Image == "" && t.Docker.ImageTar == "" {
			return fmt.Errorf("set Docker.Image, Docker.ImageTar or both")
		}
	default:
		return fmt.Errorf("unknown engine %q", engine)
	}
	for _, a := range t.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("argument %q contains a NUL byte", a)
		}
	}
	for k, v := range t.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("environment variable %q: names must be non-empty without '=' or NUL, values without NUL", k)
		}
	}
	targets := make(map[string]bool, len(t.Inputs)+1)
	if t.OutputsDir != "" {
		if err := checkTarget(t.OutputsTarget()); err != nil {
			return fmt.Errorf("outputs path: %w", err)
		}
		targets[path.Clean(t.OutputsTarget())] = true
	}
	for i, m := range t.Inputs {
		if m.Source == "" {
			return fmt.Errorf("input %d: empty source", i)
		}
		if err := checkTarget(m.Target); err != nil {
			return fmt.Errorf("input %d (%s): %w", i, m.Source, err)
		}
		c := path.Clean(m.Target)
		if targets[c] {
			return fmt.Errorf("input %d (%s): target %s is already mounted", i, m.Source, c)
		}
		targets[c] = true
	}
	switch {
	case t.Limits.CPU < 0, t.Limits.MemoryBytes < 0, t.Limits.Pids < 0, t.Limits.DiskBytes < 0:
		return fmt.Errorf("negative limit in %+v", t.Limits)
	case t.Timeout < 0:
		return fmt.Errorf("negative timeout %s", t.Timeout)
	case t.StdoutCap < 0 || t.StderrCap < 0:
		return fmt.Errorf("negative output cap (stdout %d, stderr %d)", t.StdoutCap, t.StderrCap)
	}
	return nil
}

func checkTarget(p string) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("target %q is not an absolute path", p)
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return fmt.Errorf("target %q contains '..'", p)
		}
	}
	if path.Clean(p) == "/" {
		return fmt.Errorf("target %q is the root directory", p)
	}
	return nil
}
