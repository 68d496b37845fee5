package wasm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// WorkerCommand is the hidden subcommand of the shoal binary that runs a
// worker process (`shoal __wasm-worker`): see [ServeWorker] and
// [WithWorkers].
const WorkerCommand = "__wasm-worker"

// ServeWorker runs this process as a worker of an executor built with
// [WithWorkers]: it reads frames from r (the process's stdin) and writes
// frames to w (its stdout) until r ends. The program calling it must write
// nothing else to w. It first drops what a worker does not need
// (PR_SET_NO_NEW_PRIVS, core dumps; RLIMIT_AS when the executor sets one),
// then builds a wazero runtime WITHOUT WithCloseOnContextDone: a worker's
// module is stopped by killing the process, so compiled code carries no
// cancellation checks.
func ServeWorker(r io.Reader, w io.Writer) error {
	in := bufio.NewReaderSize(r, 64<<10)
	out := &frameWriter{w: w}
	_, p, err := readFrame(in, 0, frameConfig)
	if err != nil {
		return fmt.Errorf("wasm worker: read config: %w", err)
	}
	var wc workerConfig
	if err := json.Unmarshal(p, &wc); err != nil {
		return fmt.Errorf("wasm worker: config: %w", err)
	}
	x, err := newWorkerExecutor(wc)
	ready := readyMsg{PID: os.Getpid()}
	if err != nil {
		ready.Error = err.Error()
	}
	if werr := out.writeJSON(frameReady, ready); werr != nil || err != nil {
		return errors.Join(err, werr)
	}
	defer x.Close()
	s := &server{x: x, out: out, in: in, tasks: make(chan *taskMsg), modules: make(chan []byte)}
	go s.readLoop()
	for m := range s.tasks {
		if err := s.handle(m); err != nil {
			return err
		}
	}
	return s.readErr
}

// newWorkerExecutor applies the limits of the process and builds its
// executor.
func newWorkerExecutor(wc workerConfig) (*Executor, error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return nil, fmt.Errorf("RLIMIT_CORE: %w", err)
	}
	if wc.AddressSpace > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: wc.AddressSpace, Max: wc.AddressSpace}); err != nil {
			return nil, fmt.Errorf("RLIMIT_AS: %w", err)
		}
	}
	cfg := defaultConfig()
	cfg.cacheDir = wc.CacheDir
	cfg.maxMemory = wc.MaxMemory
	cfg.maxCachedModules = wc.MaxCachedModules
	cfg.compileWorkers = wc.CompileWorkers
	cfg.maxModuleBytes = wc.MaxModuleBytes
	cfg.maxCacheBytes = wc.MaxCacheBytes
	x, err := newLocal(context.Background(), cfg, false)
	if err != nil {
		return nil, err
	}
	x.mmapMemory = true
	return x, nil
}

type server struct {
	x       *Executor
	out     *frameWriter
	in      *bufio.Reader
	tasks   chan *taskMsg
	modules chan []byte
	readErr error // set before tasks is closed

	mu     sync.Mutex
	stdinW *io.PipeWriter // of the task in progress, nil when none or done
}

// readLoop reads the daemon's frames. It writes stdin chunks to the pipe
// of the task in progress; when the task ended (its reader closed), they
// are dropped until the stream's end.
func (s *server) readLoop() {
	defer close(s.tasks)
	for {
		typ, p, err := readFrame(s.in, s.x.cfg.maxModuleBytes, frameTask, frameModule, frameStdin, frameStdinEnd)
		if err != nil {
			if err != io.EOF {
				s.readErr = fmt.Errorf("wasm worker: %w", err)
			}
			return
		}
		switch typ {
		case frameTask:
			m := &taskMsg{}
			if err := json.Unmarshal(p, m); err != nil {
				s.readErr = fmt.Errorf("wasm worker: task: %w", err)
				return
			}
			if m.Stdin {
				pr, pw := io.Pipe()
				s.mu.Lock()
				s.stdinW = pw
				s.mu.Unlock()
				m.stdin = pr
			}
			s.tasks <- m
		case frameModule:
			s.modules <- p
		case frameStdin:
			s.mu.Lock()
			pw := s.stdinW
			s.mu.Unlock()
			if pw != nil {
				if _, err := pw.Write(p); err != nil {
					s.mu.Lock()
					s.stdinW = nil // the module is done with stdin: drop the rest
					s.mu.Unlock()
				}
			}
		case frameStdinEnd:
			s.mu.Lock()
			if s.stdinW != nil {
				if len(p) > 0 {
					s.stdinW.CloseWithError(errors.New(string(p)))
				} else {
					s.stdinW.Close()
				}
			}
			s.stdinW = nil
			s.mu.Unlock()
		}
	}
}

// handle runs one task and sends its result.
func (s *server) handle(m *taskMsg) error {
	start := time.Now()
	if m.stdin != nil {
		defer m.stdin.Close() // unblocks readLoop writing stdin nobody reads
	}
	t := m.task()
	var code []byte
	if s.x.modules.has(m.Digest) {
		if err := s.out.write(frameHave, nil); err != nil {
			return err
		}
	} else {
		if err := s.out.write(frameNeed, nil); err != nil {
			return err
		}
		var ok bool
		if code, ok = <-s.modules; !ok {
			return s.readErr
		}
	}
	before := s.x.Stats()
	var msg resultMsg
	stdout := &forward{out: s.out, typ: frameStdout, left: t.StdoutLimit() + 1}
	stderr := &forward{out: s.out, typ: frameStderr, left: t.StderrLimit() + 1}
	if m.CompileOnly {
		err := s.x.precompile(context.Background(), m.Digest, code, entrypoint(t.WASM))
		msg.NoResult, msg.Kind = true, errorKind(err)
		if err != nil {
			msg.Error = err.Error()
		}
	} else {
		var stdin io.Reader
		if m.stdin != nil {
			stdin = m.stdin
		}
		r, err := s.x.runModule(context.Background(), t, start, t.Limits.MemoryOrDefault(), code, m.Digest, stdout, stderr, stdin)
		msg.Kind = errorKind(err)
		if err != nil {
			msg.Error = err.Error()
		}
		if r == nil {
			msg.NoResult = true
		} else {
			msg.ExitCode, msg.Trap, msg.Run, msg.Cleanup = r.ExitCode, r.Trap, r.Timings.Run, r.Timings.Cleanup
		}
		msg.StdoutTruncated, msg.StderrTruncated = stdout.truncated, stderr.truncated
		if stdout.err != nil || stderr.err != nil {
			return errors.Join(stdout.err, stderr.err)
		}
	}
	after := s.x.Stats()
	msg.Ran = after.Runs > before.Runs
	msg.Compiled = after.Compiles > before.Compiles
	msg.Hit = after.CacheHits > before.CacheHits
	msg.DiskHit = after.DiskCacheHits > before.DiskCacheHits
	msg.CachedModules = after.CachedModules
	return s.out.writeJSON(frameResult, msg)
}

// forward sends what the module writes to a stream to the daemon, up to
// left bytes (the cap plus one, so that the daemon sees the truncation);
// the rest is counted and dropped. It never fails the module: a broken
// connection is kept in err for the task's end.
type forward struct {
	out       *frameWriter
	typ       byte
	left      int64
	truncated bool
	err       error
}

func (f *forward) Write(p []byte) (int, error) {
	n := len(p)
	if int64(len(p)) > f.left {
		f.truncated = true
		p = p[:f.left]
	}
	f.left -= int64(len(p))
	for len(p) > 0 && f.err == nil {
		c := p[:min(len(p), chunkBytes)]
		f.err = f.out.write(f.typ, c)
		p = p[len(c):]
	}
	return n, nil
}

// Append sends an engine diagnostic, past the cap.
func (f *forward) Append(p []byte) {
	if f.err == nil {
		f.err = f.out.write(frameStderrAppend, p[:min(len(p), maxAppendBytes)])
	}
}
