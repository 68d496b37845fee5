package wasm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/internal/capture"
	"github.com/shoalnet/shoal/exec/internal/runctx"
)

// ErrWorkerCrashed reports a run whose worker process died while running
// it, neither killed by the executor (timeout, cancel, Close) nor out of
// memory: a crash of wazero or of the worker, or a kill from outside. The
// Result holds what the module wrote before. It wraps
// [exec.ErrSandboxCrashed].
var ErrWorkerCrashed = fmt.Errorf("wasm: worker process crashed (%w)", exec.ErrSandboxCrashed)

// workerStartTimeout bounds the start of a worker process, up to its ready
// frame (the Go runtime and wazero's setup take milliseconds).
const workerStartTimeout = 30 * time.Second

// stdinDrainWait is how long a finished run waits for its stdin stream to
// end before it gives up on reusing the worker (the task's Stdin is a
// reader that blocks): the worker is then replaced, not reused.
const stdinDrainWait = 100 * time.Millisecond

// killDrain is how long the daemon reads what a worker it killed wrote
// before the kill.
const killDrain = 20 * time.Millisecond

// worker is one worker process seen from the daemon.
type worker struct {
	cmd    *osexec.Cmd
	pid    int
	fw     *frameWriter
	in     *os.File // our end of its stdin
	out    *bufio.Reader
	outF   *os.File // our end of its stdout
	stderr *tailBuffer
	done   chan struct{} // closed when the process was reaped
	cached atomic.Int64  // modules it holds, from its last result
}

// kill sends SIGKILL; the conversation then fails with EOF.
func (w *worker) kill() { _ = w.cmd.Process.Kill() }

// stop kills w for the executor (timeout, cancel, Close) and bounds the
// wait for the conversation's end: what the worker wrote is already in the
// pipe, but the pipe closes only once the kernel has torn the process
// down, which takes long for a large one (a race-detector build maps
// terabytes).
func (w *worker) stop() {
	w.kill()
	_ = w.outF.SetReadDeadline(time.Now().Add(killDrain))
}

// pool holds the worker processes of an executor: up to size, started on
// demand and kept warm, one task at a time each.
type pool struct {
	e    *Executor
	size int
	reqs chan spawnReq

	mu     sync.Mutex
	idle   []*worker
	live   int // started or starting, not retired
	all    map[*worker]bool
	closed bool
	wake   chan struct{} // closed (and replaced) when a worker or a slot frees

	wg sync.WaitGroup // reapers and warmers
}

type spawnReq struct {
	reply chan spawnRes
}

type spawnRes struct {
	w   *worker
	err error
}

func newPool(e *Executor) *pool {
	p := &pool{e: e, size: e.cfg.workers, reqs: make(chan spawnReq), all: map[*worker]bool{}, wake: make(chan struct{})}
	go p.spawnLoop()
	for range p.size {
		p.warm()
	}
	return p
}

// spawnLoop starts the worker processes from one locked OS thread: a
// child's Pdeathsig fires when the thread that forked it exits, and the Go
// runtime may end other threads. The thread ends with the pool (the
// goroutine returns without unlocking), killing any worker still alive.
// The thread carries the workers' nice value (WithWorkerNice), which each
// child and all its threads inherit.
func (p *pool) spawnLoop() {
	runtime.LockOSThread()
	var niceErr error
	if n := p.e.cfg.nice; n != 0 {
		// PRIO_PROCESS with a thread ID sets that thread's value on Linux.
		niceErr = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), n)
		if niceErr != nil {
			niceErr = fmt.Errorf("wasm: set the workers' nice value %d: %w", n, niceErr)
		}
	}
	for req := range p.reqs {
		if niceErr != nil {
			req.reply <- spawnRes{nil, niceErr}
			continue
		}
		w, err := p.e.spawn()
		req.reply <- spawnRes{w, err}
	}
}

// signalLocked wakes the runs waiting for a worker.
func (p *pool) signalLocked() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// get returns an idle worker, starting one if the pool has room, or waits
// for one until ctx is done.
func (p *pool) get(ctx context.Context) (*worker, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, exec.ErrClosed
		}
		if n := len(p.idle); n > 0 {
			w := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			select {
			case <-w.done: // died while idle
				p.retire(w)
				continue
			default:
				return w, nil
			}
		}
		if p.live < p.size {
			p.live++
			p.mu.Unlock()
			w, err := p.start(ctx)
			if err != nil {
				p.mu.Lock()
				p.live--
				p.signalLocked()
				p.mu.Unlock()
				return nil, err
			}
			return w, nil
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// put gives back a worker that finished a task cleanly.
func (p *pool) put(w *worker) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		w.kill()
		return
	}
	p.idle = append(p.idle, w)
	p.signalLocked()
	p.mu.Unlock()
}

// retire kills w (if it is not dead already), frees its slot and starts a
// replacement in the background.
func (p *pool) retire(w *worker) {
	w.kill()
	p.mu.Lock()
	p.live--
	delete(p.all, w)
	p.signalLocked()
	closed := p.closed
	p.mu.Unlock()
	if !closed {
		p.warm()
	}
}

// warm starts a worker in the background and makes it idle, if the pool
// has room.
func (p *pool) warm() {
	p.mu.Lock()
	if p.closed || p.live >= p.size || p.e.closeCtx.Err() != nil { // no replacements while closing
		p.mu.Unlock()
		return
	}
	p.live++
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		w, err := p.start(p.e.closeCtx)
		if err == nil {
			// Before it is idle: a task waits for it, not the other way.
			if err = p.e.preload(p.e.closeCtx, w); err != nil {
				p.mu.Lock()
				delete(p.all, w)
				p.mu.Unlock()
				w.kill()
			}
		}
		if err != nil {
			p.mu.Lock()
			p.live--
			p.signalLocked()
			closed := p.closed
			p.mu.Unlock()
			if !closed {
				p.e.log.Warn("starting a wasm worker", "err", err)
			}
			return
		}
		p.put(w)
	}()
}

// start starts a worker process and waits for its ready frame.
func (p *pool) start(ctx context.Context) (*worker, error) {
	reply := make(chan spawnRes, 1)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, exec.ErrClosed
	}
	p.wg.Add(1) // the reaper of the process, if it starts
	p.mu.Unlock()
	p.reqs <- spawnReq{reply}
	r := <-reply
	if r.err != nil {
		p.wg.Done()
		return nil, fmt.Errorf("%w: start a worker process: %w", exec.ErrEngineUnavailable, r.err)
	}
	w := r.w
	go func() {
		defer p.wg.Done()
		_ = w.cmd.Wait()
		w.in.Close()
		w.outF.Close()
		close(w.done)
	}()
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.all[w] = true
	}
	p.mu.Unlock()
	if closed {
		w.kill()
		return nil, exec.ErrClosed
	}
	if err := p.e.handshake(ctx, w); err != nil {
		w.kill()
		p.mu.Lock()
		delete(p.all, w)
		p.mu.Unlock()
		return nil, err
	}
	return w, nil
}

// close kills every worker and waits until all are reaped. The spawning
// thread then ends.
func (p *pool) close() error {
	p.mu.Lock()
	p.closed = true
	for w := range p.all {
		w.kill()
	}
	p.idle = nil
	p.signalLocked()
	p.mu.Unlock()
	p.wg.Wait()
	close(p.reqs)
	return nil
}

func (p *pool) cachedModules() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for w := range p.all {
		n += int(w.cached.Load())
	}
	return n
}

// pids returns the process IDs of the live workers (tests).
func (p *pool) pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []int
	for w := range p.all {
		ids = append(ids, w.pid)
	}
	return ids
}

// spawn starts a worker process (on the pool's locked thread). The worker
// gets three file descriptors: its stdin and stdout (the protocol's pipes)
// and its stderr (a pipe to a bounded buffer of the daemon). Go opens every
// other descriptor close-on-exec, so none of the daemon's sockets or files
// reach it.
func (e *Executor) spawn() (*worker, error) {
	if err := closeOnExec(); err != nil {
		return nil, fmt.Errorf("close-on-exec: %w", err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	wc := e.cfg.workerCmd
	cmd := osexec.Command(wc.Path, wc.Args...)
	cmd.Env = append([]string{}, wc.Env...) // non-nil: nothing of the daemon's environment
	cmd.Stdin, cmd.Stdout = inR, outW
	tail := &tailBuffer{max: 16 << 10}
	cmd.Stderr = tail
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	return &worker{
		cmd: cmd, pid: cmd.Process.Pid,
		fw: &frameWriter{w: inW}, in: inW,
		out: bufio.NewReaderSize(outR, 64<<10), outF: outR,
		stderr: tail, done: make(chan struct{}),
	}, nil
}

// handshake sends the config frame and waits for the ready frame.
func (e *Executor) handshake(ctx context.Context, w *worker) error {
	as := e.cfg.addressSpace
	if !e.cfg.addressSpaceSet {
		as = uint64(e.cfg.maxMemory) + DefaultWorkerOverhead
	}
	ctx, cancel := context.WithTimeout(ctx, workerStartTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, w.kill)
	defer stop()
	err := w.fw.writeJSON(frameConfig, workerConfig{
		CacheDir:         e.cfg.cacheDir,
		MaxMemory:        e.cfg.maxMemory,
		MaxCachedModules: e.cfg.maxCachedModules,
		CompileWorkers:   e.cfg.compileWorkers,
		MaxModuleBytes:   e.cfg.maxModuleBytes,
		MaxCacheBytes:    e.cfg.maxCacheBytes,
		AddressSpace:     as,
	})
	var ready readyMsg
	if err == nil {
		var p []byte
		if _, p, err = readFrame(w.out, 0, frameReady); err == nil {
			err = json.Unmarshal(p, &ready)
		}
	}
	switch {
	case err == nil && ready.Error != "":
		err = errors.New(ready.Error)
	case err != nil:
		w.kill()
		<-w.done
		err = fmt.Errorf("%w (stderr: %q)", err, w.stderr.String())
	}
	if err != nil {
		return fmt.Errorf("%w: wasm worker %s: %w", exec.ErrEngineUnavailable, e.cfg.workerCmd.Path, err)
	}
	return nil
}

// runInWorker runs t in a worker process: the worker compiles (or finds)
// the module and runs it; the daemon streams stdin, keeps the output under
// the caps and kills the worker when the run must stop.
func (e *Executor) runInWorker(ctx context.Context, t *exec.Task, start time.Time, limit int64, code []byte, digest [32]byte) (*exec.Result, error) {
	prepCtx, cancel := runctx.Prepare(ctx, e.closeCtx)
	defer cancel()
	w, err := e.pool.get(prepCtx)
	if err != nil {
		if prepCtx.Err() != nil { // stopped while waiting: an empty Result, as for any stopped run
			d := time.Since(start)
			return &exec.Result{ExitCode: -1, OutputsDir: t.OutputsDir, Timings: exec.Timings{Prepare: d, Total: d}},
				runctx.StopReason(prepCtx, t.Timeout)
		}
		return nil, err
	}
	runCtx, cancelRun := runctx.Run(prepCtx, t.Timeout)
	defer cancelRun()
	dispatched := time.Now() // the timeout runs from here
	stop := context.AfterFunc(runCtx, w.stop)

	stdout, stderr := capture.NewTapped(t.StdoutLimit(), t.StdoutTap), capture.NewTapped(t.StderrLimit(), t.StderrTap)
	msg := &taskMsg{
		ID: t.ID, Digest: digest, Entrypoint: t.WASM.Entrypoint, Deterministic: t.WASM.Deterministic, Seed: t.WASM.Seed,
		Args: t.Args, Env: t.Env, Stdin: t.Stdin != nil, Inputs: t.Inputs,
		OutputsDir: t.OutputsDir, OutputsPath: t.OutputsPath, Limits: t.Limits,
		StdoutCap: t.StdoutCap, StderrCap: t.StderrCap,
	}
	msg.Limits.MemoryBytes = limit
	rm, drained, convErr := e.converse(w, msg, code, t.Stdin, stdout, stderr)
	stopped := !stop()

	res := &exec.Result{ExitCode: -1, OutputsDir: t.OutputsDir}
	fill := func() {
		res.Stdout, res.StdoutTruncated = stdout.Bytes(), stdout.Truncated()
		res.Stderr, res.StderrTruncated = stderr.Bytes(), stderr.Truncated()
		res.Timings.Total = time.Since(start)
		res.Timings.Prepare = max(res.Timings.Total-res.Timings.Run-res.Timings.Cleanup, 0)
	}
	if convErr != nil {
		e.pool.retire(w)
		res.Timings.Run = time.Since(dispatched) // Prepare: up to the dispatch
		if stopped {
			fill()
			return res, runctx.StopReason(runCtx, t.Timeout)
		}
		<-w.done
		fill()
		return res, e.crashError(w, convErr)
	}
	if stopped || !drained {
		e.pool.retire(w) // killed as it finished, or its stdin is stuck
	} else {
		e.pool.put(w)
	}
	e.count(w, rm)
	if rm.Kind == kindNone {
		e.remember(digest, code)
	}
	if rm.NoResult {
		return nil, kindError(rm.Kind, rm.Error)
	}
	res.ExitCode, res.Trap, res.Timings.Run, res.Timings.Cleanup = rm.ExitCode, rm.Trap, rm.Run, rm.Cleanup
	fill()
	res.StdoutTruncated = res.StdoutTruncated || rm.StdoutTruncated
	res.StderrTruncated = res.StderrTruncated || rm.StderrTruncated
	e.log.Debug("run", "task", t.ID, "worker", w.pid, "exit", res.ExitCode, "err", rm.Error,
		"prepare", res.Timings.Prepare, "run", res.Timings.Run, "total", res.Timings.Total)
	return res, kindError(rm.Kind, rm.Error)
}

// count adds what a task did in a worker to the executor's counters.
func (e *Executor) count(w *worker, rm *resultMsg) {
	w.cached.Store(int64(rm.CachedModules))
	if rm.Ran {
		e.stats.runs.Add(1)
	}
	if rm.Compiled {
		e.stats.compiles.Add(1)
	}
	if rm.Hit {
		e.stats.hits.Add(1)
	}
	if rm.DiskHit {
		e.stats.diskHits.Add(1)
	}
}

// crashError explains the death of a worker the executor did not kill.
func (e *Executor) crashError(w *worker, convErr error) error {
	tail := w.stderr.String()
	state := "exited"
	if ps := w.cmd.ProcessState; ps != nil {
		state = ps.String()
	}
	e.log.Warn("wasm worker died", "pid", w.pid, "state", state, "err", convErr, "stderr", tail[:min(len(tail), 1024)])
	if strings.Contains(tail, "out of memory") {
		return fmt.Errorf("%w: the worker process ran out of its address space (%s): %s", exec.ErrMemoryLimit, state, firstLine(tail, "out of memory"))
	}
	return fmt.Errorf("%w: pid %d %s: %v", ErrWorkerCrashed, w.pid, state, convErr)
}

// firstLine returns the first line of s containing sub.
func firstLine(s, sub string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// converse sends a task to w and reads frames until its result. drained
// reports that the stdin stream ended, so w can take another task.
func (e *Executor) converse(w *worker, msg *taskMsg, code []byte, stdin io.Reader, stdout, stderr *capture.Buffer) (rm *resultMsg, drained bool, err error) {
	if err := w.fw.writeJSON(frameTask, msg); err != nil {
		return nil, false, err
	}
	typ, _, err := readFrame(w.out, 0, frameHave, frameNeed)
	if err != nil {
		return nil, false, err
	}
	if typ == frameNeed {
		if err := w.fw.write(frameModule, code); err != nil {
			return nil, false, err
		}
	}
	var (
		stopIn   atomic.Bool
		stdinEnd = make(chan struct{})
	)
	if stdin != nil {
		go sendStdin(w.fw, stdin, &stopIn, stdinEnd)
	} else {
		close(stdinEnd)
	}
	defer stopIn.Store(true)
	for {
		typ, p, err := readFrame(w.out, 0, frameStdout, frameStderr, frameStderrAppend, frameResult)
		if err != nil {
			return nil, false, err
		}
		switch typ {
		case frameStdout:
			stdout.Write(p)
		case frameStderr:
			stderr.Write(p)
		case frameStderrAppend:
			stderr.Append(p)
		case frameResult:
			rm = &resultMsg{}
			if err := json.Unmarshal(p, rm); err != nil {
				return nil, false, fmt.Errorf("%w: result: %w", errProtocol, err)
			}
			stopIn.Store(true)
			t := time.NewTimer(stdinDrainWait)
			defer t.Stop()
			select {
			case <-stdinEnd:
				drained = true
			case <-t.C:
			}
			return rm, drained, nil
		}
	}
}

// sendStdin streams r to the worker until EOF, an error or stop, then ends
// the stream.
func sendStdin(fw *frameWriter, r io.Reader, stop *atomic.Bool, end chan<- struct{}) {
	defer close(end)
	buf := make([]byte, chunkBytes)
	var rerr error
	for !stop.Load() {
		n, err := r.Read(buf)
		if n > 0 && !stop.Load() {
			if fw.write(frameStdin, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	msg := ""
	if rerr != nil {
		msg = rerr.Error()
		if len(msg) > maxControlBytes {
			msg = msg[:maxControlBytes]
		}
	}
	_ = fw.write(frameStdinEnd, []byte(msg))
}

// precompileInWorker compiles a module in a worker (and so into the disk
// cache every worker shares).
func (e *Executor) precompileInWorker(ctx context.Context, digest [32]byte, code []byte, entry string) error {
	prepCtx, cancel := runctx.Prepare(ctx, e.closeCtx)
	defer cancel()
	w, err := e.pool.get(prepCtx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(prepCtx, w.stop)
	rm, _, err := e.converse(w, &taskMsg{ID: "precompile", Digest: digest, Entrypoint: entry, CompileOnly: true}, code, nil, capture.New(0), capture.New(0))
	stopped := !stop()
	if err != nil {
		e.pool.retire(w)
		if stopped {
			return context.Cause(prepCtx)
		}
		<-w.done
		return e.crashError(w, err)
	}
	e.pool.put(w)
	e.count(w, rm)
	if rm.Kind == kindNone {
		e.remember(digest, code)
	}
	return kindError(rm.Kind, rm.Error)
}

// tailBuffer keeps the first and the last max/2 bytes written to it: a Go
// runtime's fatal error says what happened on top of a long goroutine dump.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	head    []byte
	tail    []byte
	dropped bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := b.max/2 - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - b.max/2; over > 0 {
		b.tail = append(b.tail[:0], b.tail[over:]...)
		b.dropped = true
	}
	return n, nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	sep := ""
	if b.dropped {
		sep = "\n[...]\n"
	}
	return string(b.head) + sep + string(b.tail)
}

// closeOnExec marks every descriptor of this process above stderr
// close-on-exec. Go opens its own so, but a daemon may have inherited
// others from whatever started it, and exec.Cmd passes those on: a worker
// must get only its three pipes.
func closeOnExec() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // closed since the listing (the directory's own fd)
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err != nil {
			return fmt.Errorf("fd %d: %w", fd, err)
		}
	}
	return nil
}
