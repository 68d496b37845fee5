package wasm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/shoalnet/shoal/exec"
)

// The daemon and a worker process talk over the worker's stdin (daemon to
// worker) and stdout (worker to daemon) in frames: one type byte, a 4-byte
// big-endian payload length, the payload. Each type has its own bound on
// the length, checked before the payload is read; an unknown type or a
// frame over its bound ends the conversation (the daemon then kills the
// worker).
//
//	daemon -> worker                    worker -> daemon
//	config (JSON, first frame)          ready (JSON: pid or error)
//	task (JSON)                         have | need (the module is cached | send it)
//	module (the module's bytes)
//	stdin... stdinEnd (error text)      stdout... stderr... stderrAppend...
//	                                    result (JSON)
//
// A worker runs one task at a time. After have/need and, for need, the
// module frame, the daemon streams the task's stdin while the worker
// streams the module's output; the result ends the task.
const (
	frameConfig byte = iota + 1
	frameReady
	frameTask
	frameHave
	frameNeed
	frameModule
	frameStdin
	frameStdinEnd
	frameStdout
	frameStderr
	frameStderrAppend
	frameResult
	frameLast = frameResult
)

// Frame bounds. Data frames are written in chunks of at most chunkBytes.
const (
	chunkBytes        = 32 << 10
	maxControlBytes   = 64 << 10 // config, ready, have, need, result, stdinEnd
	maxTaskFrameBytes = 8 << 20  // args, environment and mounts of one task
	maxAppendBytes    = 64 << 10 // an engine diagnostic (a trap message)
)

// frameBound returns the largest payload accepted for typ; 0 for a type
// that is not valid. maxModule is the executor's module bound.
func frameBound(typ byte, maxModule int64) int64 {
	switch typ {
	case frameConfig, frameReady, frameHave, frameNeed, frameResult, frameStdinEnd:
		return maxControlBytes
	case frameTask:
		return maxTaskFrameBytes
	case frameModule:
		return maxModule
	case frameStdin, frameStdout, frameStderr:
		return chunkBytes
	case frameStderrAppend:
		return maxAppendBytes
	}
	return 0
}

// errProtocol reports a frame that breaks the protocol.
var errProtocol = errors.New("wasm worker protocol")

// readFrame reads one frame, refusing a type not in want (nil: any valid
// type) and a payload over the type's bound.
func readFrame(r io.Reader, maxModule int64, want ...byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	typ, n := hdr[0], int64(binary.BigEndian.Uint32(hdr[1:]))
	bound := frameBound(typ, maxModule)
	if bound == 0 {
		return 0, nil, fmt.Errorf("%w: unknown frame type %d", errProtocol, typ)
	}
	if len(want) > 0 {
		ok := false
		for _, w := range want {
			ok = ok || w == typ
		}
		if !ok {
			return 0, nil, fmt.Errorf("%w: unexpected frame type %d (want %v)", errProtocol, typ, want)
		}
	}
	if n > bound {
		return 0, nil, fmt.Errorf("%w: frame type %d of %d bytes, over its bound of %d", errProtocol, typ, n, bound)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return typ, p, nil
}

// frameWriter writes whole frames; it is safe for concurrent use.
type frameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (fw *frameWriter) write(typ byte, p []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.buf = append(fw.buf[:0], typ, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(fw.buf[1:5], uint32(len(p)))
	if len(p) <= chunkBytes {
		fw.buf = append(fw.buf, p...)
		_, err := fw.w.Write(fw.buf)
		return err
	}
	if _, err := fw.w.Write(fw.buf); err != nil {
		return err
	}
	_, err := fw.w.Write(p)
	return err
}

func (fw *frameWriter) writeJSON(typ byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return fw.write(typ, b)
}

// workerConfig is the config frame: the executor options a worker needs.
type workerConfig struct {
	CacheDir         string `json:",omitempty"`
	MaxMemory        int64
	MaxCachedModules int
	CompileWorkers   int
	MaxModuleBytes   int64
	MaxCacheBytes    int64
	// AddressSpace is the worker's RLIMIT_AS in bytes; 0 sets none.
	AddressSpace uint64 `json:",omitempty"`
}

type readyMsg struct {
	PID   int
	Error string `json:",omitempty"`
}

// taskMsg is a task without its module bytes and its stdin.
type taskMsg struct {
	ID            string
	Digest        [32]byte
	Entrypoint    string `json:",omitempty"`
	Deterministic bool   `json:",omitempty"`
	Seed          [32]byte
	Args          []string
	Env           map[string]string
	Stdin         bool `json:",omitempty"`
	Inputs        []exec.Mount
	OutputsDir    string `json:",omitempty"`
	OutputsPath   string `json:",omitempty"`
	Limits        exec.Limits
	StdoutCap     int64
	StderrCap     int64
	// CompileOnly compiles the module and checks its entrypoint (Precompile).
	CompileOnly bool `json:",omitempty"`

	stdin *io.PipeReader // the worker's end of the stdin stream
}

func (m *taskMsg) task() *exec.Task {
	return &exec.Task{
		ID:          m.ID,
		WASM:        &exec.WASMSpec{Digest: m.Digest, Entrypoint: m.Entrypoint, Deterministic: m.Deterministic, Seed: m.Seed},
		Args:        m.Args,
		Env:         m.Env,
		Inputs:      m.Inputs,
		OutputsDir:  m.OutputsDir,
		OutputsPath: m.OutputsPath,
		Limits:      m.Limits,
		StdoutCap:   m.StdoutCap,
		StderrCap:   m.StderrCap,
	}
}

// Error kinds of a result: which sentinels the daemon wraps again.
const (
	kindNone          = ""
	kindInvalidTask   = "invalid_task"
	kindSymlink       = "symlink"
	kindInvalidModule = "invalid_module"
	kindMemoryLimit   = "memory_limit"
	kindDiskLimit     = "disk_limit"
	kindOther         = "other"
)

type resultMsg struct {
	NoResult        bool `json:",omitempty"` // the error came with a nil Result
	ExitCode        int
	Trap            string `json:",omitempty"`
	Kind            string `json:",omitempty"`
	Error           string `json:",omitempty"`
	StdoutTruncated bool   `json:",omitempty"`
	StderrTruncated bool   `json:",omitempty"`
	Run, Cleanup    time.Duration
	// What the task did to the worker's caches, and how many modules it
	// holds now.
	Ran, Compiled, Hit, DiskHit bool `json:",omitempty"`
	CachedModules               int
}

func errorKind(err error) string {
	switch {
	case err == nil:
		return kindNone
	case errors.Is(err, ErrSymlink):
		return kindSymlink
	case errors.Is(err, exec.ErrInvalidTask):
		return kindInvalidTask
	case errors.Is(err, exec.ErrInvalidModule):
		return kindInvalidModule
	case errors.Is(err, exec.ErrMemoryLimit):
		return kindMemoryLimit
	case errors.Is(err, exec.ErrDiskLimit):
		return kindDiskLimit
	}
	return kindOther
}

// remoteError is an error of a worker, rebuilt in the daemon: its message
// and the sentinels errors.Is finds.
type remoteError struct {
	msg  string
	errs []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.errs }

func kindError(kind, msg string) error {
	var errs []error
	switch kind {
	case kindNone:
		return nil
	case kindSymlink:
		errs = []error{exec.ErrInvalidTask, ErrSymlink}
	case kindInvalidTask:
		errs = []error{exec.ErrInvalidTask}
	case kindInvalidModule:
		errs = []error{exec.ErrInvalidModule}
	case kindMemoryLimit:
		errs = []error{exec.ErrMemoryLimit}
	case kindDiskLimit:
		errs = []error{exec.ErrDiskLimit}
	}
	return &remoteError{msg: msg, errs: errs}
}
