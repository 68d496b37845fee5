// Package exectest is the conformance suite of exec.Executor: every engine
// runs the same tests through [Run], as go-libp2p's transport test suite
// does for transports. The suite drives the program in
// exec/internal/testprog/prog; the engine's harness says how to run it.
//
// It depends only on package exec and its internal test helpers.
package exectest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
)

// Harness describes an engine under test.
type Harness struct {
	// New returns a fresh executor of the engine. The suite closes it.
	New func(t *testing.T) exec.Executor
	// Program returns a task that runs the conformance program
	// (exec/internal/testprog/prog): the engine spec set, everything else
	// zero. The suite fills in the rest.
	Program func(t *testing.T) *exec.Task
	// MemoryLimit is the Limits.MemoryBytes of the memory-limit test;
	// default 64 MiB.
	MemoryLimit int64
	// BombLimit is the Limits.MemoryBytes of the memory-bomb test (a
	// program allocating 64 MiB at a time); default 512 MiB.
	BombLimit int64

	// StopWithin, when set, registers SpinDeadline: a program spinning
	// forever with a 1 s Timeout must have Run return within StopWithin of
	// its deadline (1 s after the end of the preparation the Result's
	// Timings.Prepare reports).
	StopWithin time.Duration

	// KillWorkers, when set, registers WorkerKilled: while a program runs,
	// KillWorkers kills from outside the processes of x that run programs
	// (for an engine whose sandbox is a process of its own); Run must then
	// return an error wrapping WorkerKilledErr with the partial Result, and
	// x must go on running tasks.
	KillWorkers     func(t *testing.T, x exec.Executor)
	WorkerKilledErr error
}

// Run runs the conformance suite against the engine of h.
func Run(t *testing.T, h Harness) {
	if h.MemoryLimit == 0 {
		h.MemoryLimit = 64 << 20
	}
	if h.BombLimit == 0 {
		h.BombLimit = 512 << 20
	}
	s := &suite{h: h}
	t.Run("shared", func(t *testing.T) {
		s.x = h.New(t)
		t.Cleanup(func() {
			if err := s.x.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		for _, c := range []struct {
			name string
			fn   func(*testing.T)
		}{
			{"Hello", s.hello},
			{"ArgsEnvStdin", s.argsEnvStdin},
			{"NilStdin", s.nilStdin},
			{"ReadInputs", s.readInputs},
			{"WriteOutputs", s.writeOutputs},
			{"ExitCode", s.exitCode},
			{"LargeOutput", s.largeOutput},
			{"OutputCap", s.outputCap},
			{"LiveTap", s.liveTap},
			{"TimeoutSpin", s.timeoutSpin},
			{"TimeoutSleep", s.timeoutSleep},
			{"Cancel", s.cancel},
			{"MemoryLimit", s.memoryLimit},
			{"MemoryBomb", s.memoryBomb},
			{"ReadOnlyInputs", s.readOnlyInputs},
			{"NoNetwork", s.noNetwork},
			{"SymlinkEscape", s.symlinkEscape},
			{"Concurrent", s.concurrent},
			{"InvalidTask", s.invalidTask},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.fn(t)
			})
		}
	})
	if h.StopWithin > 0 {
		t.Run("SpinDeadline", s.spinDeadline)
	}
	if h.KillWorkers != nil {
		t.Run("WorkerKilled", s.workerKilled)
	}
	t.Run("Close", s.close)
}

type suite struct {
	h Harness
	x exec.Executor
}

// task returns a task running the program with args.
func (s *suite) task(t *testing.T, args ...string) *exec.Task {
	t.Helper()
	tk := s.h.Program(t)
	tk.ID = taskID(t)
	tk.Args = args
	return tk
}

// taskID derives a unique, container-name-safe ID from the test name.
func taskID(t *testing.T) string {
	r := strings.NewReplacer("/", "-", " ", "-", "_", "-")
	return fmt.Sprintf("%s-%d", strings.ToLower(r.Replace(t.Name())), time.Now().UnixNano()%1e6)
}

// run runs tk and fails the test on an error.
func (s *suite) run(t *testing.T, tk *exec.Task) *exec.Result {
	t.Helper()
	res, err := s.x.Run(context.Background(), tk)
	if err != nil {
		t.Fatalf("Run(%v): %v", tk.Args, err)
	}
	if res == nil {
		t.Fatalf("Run(%v): nil Result and nil error", tk.Args)
	}
	return res
}

func wantExit(t *testing.T, res *exec.Result, code int) {
	t.Helper()
	if res.ExitCode != code {
		t.Fatalf("ExitCode = %d, want %d\nstdout: %s\nstderr: %s", res.ExitCode, code, res.Stdout, res.Stderr)
	}
}

func wantStdout(t *testing.T, res *exec.Result, want string) {
	t.Helper()
	if string(res.Stdout) != want {
		t.Fatalf("Stdout = %q, want %q (stderr %q)", res.Stdout, want, res.Stderr)
	}
}

func wantErr(t *testing.T, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("error = %v, want one wrapping %v", err, target)
		}
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) hello(t *testing.T) {
	if s.x.Engine() != exec.EngineWASM && s.x.Engine() != exec.EngineDocker {
		t.Errorf("Engine() = %q", s.x.Engine())
	}
	res := s.run(t, s.task(t, "hello"))
	wantExit(t, res, 0)
	wantStdout(t, res, "hello from shoal\n")
	if len(res.Stderr) != 0 || res.StdoutTruncated || res.StderrTruncated {
		t.Errorf("Stderr = %q, truncated = %v/%v; want empty, false/false", res.Stderr, res.StdoutTruncated, res.StderrTruncated)
	}
	tm := res.Timings
	if tm.Total <= 0 || tm.Run <= 0 || tm.Total < tm.Prepare+tm.Run {
		t.Errorf("Timings = %+v: want Total > 0, Run > 0, Total >= Prepare+Run", tm)
	}
}

func (s *suite) argsEnvStdin(t *testing.T) {
	tk := s.task(t, "echo", "one", "two words", "-flag=x")
	tk.Env = map[string]string{"SHOAL_TEST_B": "x y", "SHOAL_TEST_A": "1"}
	tk.Stdin = strings.NewReader("from stdin")
	res := s.run(t, tk)
	wantExit(t, res, 0)
	wantStdout(t, res, "arg[0]=one\narg[1]=two words\narg[2]=-flag=x\n"+
		"env:SHOAL_TEST_A=1\nenv:SHOAL_TEST_B=x y\nstdin:from stdin\n")
}

func (s *suite) nilStdin(t *testing.T) {
	res := s.run(t, s.task(t, "echo"))
	wantExit(t, res, 0)
	wantStdout(t, res, "stdin:\n")
}

func (s *suite) readInputs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in", "data.txt"), "data\n")
	writeFile(t, filepath.Join(dir, "in", "sub", "inner.txt"), "inner\n")
	writeFile(t, filepath.Join(dir, "single.txt"), "single\n")
	mounts := []exec.Mount{
		{Source: filepath.Join(dir, "in"), Target: "/inputs"},
		{Source: filepath.Join(dir, "single.txt"), Target: "/data/single.txt"},
	}

	tk := s.task(t, "cat", "/inputs/data.txt", "/inputs/sub/inner.txt", "/data/single.txt")
	tk.Inputs = mounts
	res := s.run(t, tk)
	wantExit(t, res, 0)
	wantStdout(t, res, "data\ninner\nsingle\n")

	tk = s.task(t, "ls", "/inputs")
	tk.Inputs = mounts
	res = s.run(t, tk)
	wantExit(t, res, 0)
	wantStdout(t, res, "data.txt\nsub\n")
}

func (s *suite) writeOutputs(t *testing.T) {
	for _, c := range []struct{ name, path string }{
		{"default path", ""},
		{"custom path", "/results"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out") // created by Run
			inside := c.path
			if inside == "" {
				inside = exec.DefaultOutputsPath
			}
			tk := s.task(t, "write", inside+"/result.txt", "result")
			tk.OutputsDir, tk.OutputsPath = out, c.path
			res := s.run(t, tk)
			wantExit(t, res, 0)
			if res.OutputsDir != out {
				t.Errorf("OutputsDir = %q, want %q", res.OutputsDir, out)
			}
			b, err := os.ReadFile(filepath.Join(out, "result.txt"))
			if err != nil || string(b) != "result" {
				t.Fatalf("outputs file = %q, %v; want %q", b, err, "result")
			}
		})
	}
}

func (s *suite) exitCode(t *testing.T) {
	for _, code := range []int{0, 1, 7, 113} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			res, err := s.x.Run(context.Background(), s.task(t, "exit", fmt.Sprint(code)))
			if err != nil {
				t.Fatalf("a non-zero exit must not be an error, got %v", err)
			}
			wantExit(t, res, code)
		})
	}
}

func numbered(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

func (s *suite) largeOutput(t *testing.T) {
	res := s.run(t, s.task(t, "lines", "10000", "both"))
	wantExit(t, res, 0)
	if want := numbered("line", 10000); string(res.Stdout) != want {
		t.Errorf("Stdout: %d bytes, %d lines, want %d bytes, 10000 lines", len(res.Stdout), bytes.Count(res.Stdout, []byte("\n")), len(want))
	}
	if want := numbered("err", 10000); string(res.Stderr) != want {
		t.Errorf("Stderr: %d bytes, %d lines, want %d bytes, 10000 lines", len(res.Stderr), bytes.Count(res.Stderr, []byte("\n")), len(want))
	}
	if res.StdoutTruncated || res.StderrTruncated {
		t.Errorf("truncated = %v/%v, want false/false", res.StdoutTruncated, res.StderrTruncated)
	}
}

func (s *suite) outputCap(t *testing.T) {
	tk := s.task(t, "lines", "10000", "both")
	tk.StdoutCap, tk.StderrCap = 1000, 10
	res := s.run(t, tk)
	wantExit(t, res, 0) // the program is not blocked or failed by the cap
	if want := numbered("line", 10000)[:1000]; string(res.Stdout) != want || !res.StdoutTruncated {
		t.Errorf("Stdout = %d bytes (truncated %v), want the first 1000 bytes and truncated", len(res.Stdout), res.StdoutTruncated)
	}
	if want := numbered("err", 10000)[:10]; string(res.Stderr) != want || !res.StderrTruncated {
		t.Errorf("Stderr = %q (truncated %v), want %q and truncated", res.Stderr, res.StderrTruncated, want)
	}
}

func (s *suite) stopped(t *testing.T, ctx context.Context, tk *exec.Task, targets ...error) *exec.Result {
	t.Helper()
	start := time.Now()
	res, err := s.x.Run(ctx, tk)
	wantErr(t, err, targets...)
	if d := time.Since(start); d > time.Minute {
		t.Errorf("Run took %s to stop", d)
	}
	if res == nil {
		t.Errorf("a stopped run must return its partial Result")
	}
	return res
}

func (s *suite) timeoutSpin(t *testing.T) {
	tk := s.task(t, "spin")
	tk.Timeout = time.Second
	s.stopped(t, context.Background(), tk, exec.ErrTimeout)
}

func (s *suite) timeoutSleep(t *testing.T) {
	tk := s.task(t, "sleep", "1h")
	tk.Timeout = time.Second
	s.stopped(t, context.Background(), tk, exec.ErrTimeout)
}

func (s *suite) cancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	s.stopped(t, ctx, s.task(t, "spin"), exec.ErrKilled, context.Canceled)
}

func (s *suite) memoryLimit(t *testing.T) {
	tk := s.task(t, "alloc", "1")
	tk.Limits.MemoryBytes = s.h.MemoryLimit
	tk.Timeout = time.Minute
	res := s.stopped(t, context.Background(), tk, exec.ErrMemoryLimit)
	if res != nil && res.ExitCode == 0 {
		t.Errorf("ExitCode = 0 after a memory limit")
	}
}

// memoryBomb allocates as fast as it can under a large limit: the run fails
// with ErrMemoryLimit and the executor goes on running tasks.
func (s *suite) memoryBomb(t *testing.T) {
	tk := s.task(t, "alloc", "64")
	tk.Limits.MemoryBytes = s.h.BombLimit
	tk.Timeout = time.Minute
	res := s.stopped(t, context.Background(), tk, exec.ErrMemoryLimit)
	if res != nil && res.ExitCode == 0 {
		t.Errorf("ExitCode = 0 after a memory limit")
	}
	res = s.run(t, s.task(t, "hello"))
	wantExit(t, res, 0)
	wantStdout(t, res, "hello from shoal\n")
}

// spinDeadline runs a program spinning forever with a 1 s timeout on an
// idle executor, the program already prepared by a first run: Run must
// return within StopWithin of the deadline.
func (s *suite) spinDeadline(t *testing.T) {
	x := s.h.New(t)
	defer x.Close()
	if res, err := x.Run(context.Background(), s.task(t, "hello")); err != nil || res.ExitCode != 0 {
		t.Fatalf("warm-up run = %+v, %v", res, err)
	}
	tk := s.task(t, "spin")
	tk.Timeout = time.Second
	start := time.Now()
	res, err := x.Run(context.Background(), tk)
	d := time.Since(start)
	wantErr(t, err, exec.ErrTimeout)
	if res == nil {
		t.Errorf("a stopped run must return its partial Result")
	}
	if res == nil {
		return
	}
	past := d - res.Timings.Prepare - tk.Timeout
	t.Logf("a spinning program with a %s timeout: Run returned after %s, %s past its deadline (prepared in %s)", tk.Timeout, d, past, res.Timings.Prepare)
	if past > s.h.StopWithin {
		t.Errorf("Run returned %s past the deadline, want at most %s (Run took %s, Timings %+v)", past, s.h.StopWithin, d, res.Timings)
	}
}

// workerKilled kills the engine's processes while a program runs.
func (s *suite) workerKilled(t *testing.T) {
	x := s.h.New(t)
	defer x.Close()
	out := t.TempDir()
	tk := s.task(t, "touchspin", "/outputs/started")
	tk.OutputsDir = out
	tk.Timeout = time.Minute
	done := make(chan struct{})
	var (
		res *exec.Result
		err error
	)
	go func() {
		defer close(done)
		res, err = x.Run(context.Background(), tk)
	}()
	// The program creates the file, then spins: wait for it.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(filepath.Join(out, "started")); err == nil {
			break
		}
		select {
		case <-done:
			t.Fatalf("Run returned before the program started: %+v, %v", res, err)
		case <-tick.C:
		}
	}
	start := time.Now()
	s.h.KillWorkers(t, x)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its process was killed")
	}
	wantErr(t, err, s.h.WorkerKilledErr)
	if errors.Is(err, exec.ErrTimeout) || errors.Is(err, exec.ErrKilled) {
		t.Errorf("error = %v: a process killed from outside is neither a timeout nor a kill by the caller", err)
	}
	if res == nil {
		t.Fatal("a stopped run must return its partial Result")
	}
	t.Logf("Run returned %s after the kill: %v", time.Since(start), err)
	res2, err := x.Run(context.Background(), s.task(t, "hello"))
	if err != nil {
		t.Fatalf("the run after the kill: %v", err)
	}
	wantExit(t, res2, 0)
	wantStdout(t, res2, "hello from shoal\n")
}

func (s *suite) readOnlyInputs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "data.txt"), "original")
	for _, c := range []struct{ name, path string }{
		{"new file", "/inputs/new.txt"},
		{"existing file", "/inputs/data.txt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := s.task(t, "write", c.path, "changed")
			tk.Inputs = []exec.Mount{{Source: dir, Target: "/inputs"}}
			res := s.run(t, tk)
			wantExit(t, res, 1)
			if !bytes.Contains(res.Stderr, []byte("write error")) {
				t.Errorf("Stderr = %q, want a write error", res.Stderr)
			}
		})
	}
	ents, _ := os.ReadDir(dir)
	b, _ := os.ReadFile(filepath.Join(dir, "data.txt"))
	if len(ents) != 1 || string(b) != "original" {
		t.Errorf("input dir changed: %d entries, data.txt = %q", len(ents), b)
	}
}

func (s *suite) noNetwork(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:1", "192.0.2.1:80", "1.1.1.1:53"} {
		t.Run(addr, func(t *testing.T) {
			res := s.run(t, s.task(t, "dial", addr))
			wantExit(t, res, 4)
			if !bytes.HasPrefix(res.Stdout, []byte("dial error")) {
				t.Errorf("Stdout = %q, want a dial error", res.Stdout)
			}
		})
	}
}

func (s *suite) symlinkEscape(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, "s3cr3t")
	in := filepath.Join(dir, "in")
	writeFile(t, filepath.Join(in, "ok.txt"), "ok")
	if err := os.Symlink(secret, filepath.Join(in, "abs-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(in, "rel-link")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")

	check := func(t *testing.T, res *exec.Result) {
		t.Helper()
		t.Logf("exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
		if bytes.Contains(res.Stdout, []byte("s3cr3t")) {
			t.Errorf("the program read a host file outside its mounts: %q", res.Stdout)
		}
		if b, _ := os.ReadFile(secret); string(b) != "s3cr3t" {
			t.Errorf("the program wrote a host file outside its mounts: %q", b)
		}
	}
	t.Run("inputs", func(t *testing.T) {
		for _, link := range []string{"/inputs/abs-link", "/inputs/rel-link"} {
			tk := s.task(t, "cat", link)
			tk.Inputs = []exec.Mount{{Source: in, Target: "/inputs"}}
			res := s.run(t, tk)
			check(t, res)
			if res.ExitCode == 0 {
				t.Errorf("reading %s, a symlink out of the input, succeeded: %q", link, res.Stdout)
			}
		}
	})
	t.Run("outputs", func(t *testing.T) {
		rel, err := filepath.Rel(out, secret)
		if err != nil {
			t.Fatal(err)
		}
		// Climb far above the mount, then down to the host file.
		target := strings.Repeat("../", 20) + strings.TrimPrefix(secret, "/")
		for _, tgt := range []string{rel, target} {
			tk := s.task(t, "escape", "/outputs/link-"+fmt.Sprint(len(tgt)), tgt)
			tk.OutputsDir = out
			check(t, s.run(t, tk))
		}
	})
}

func (s *suite) concurrent(t *testing.T) {
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := s.task(t, "echo", fmt.Sprint(i))
			tk.ID = fmt.Sprintf("%s-%d", tk.ID, i)
			res, err := s.x.Run(context.Background(), tk)
			switch {
			case err != nil:
				errs[i] = err
			case string(res.Stdout) != fmt.Sprintf("arg[0]=%d\nstdin:\n", i):
				errs[i] = fmt.Errorf("run %d: Stdout = %q", i, res.Stdout)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) invalidTask(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		modify func(*exec.Task)
	}{
		{"no spec", func(tk *exec.Task) { tk.WASM, tk.Docker = nil, nil }},
		{"both specs", func(tk *exec.Task) {
			tk.WASM, tk.Docker = &exec.WASMSpec{Module: []byte{0}}, &exec.DockerSpec{Image: "x"}
		}},
		{"relative target", func(tk *exec.Task) { tk.Inputs = []exec.Mount{{Source: dir, Target: "inputs"}} }},
		{"duplicate target", func(tk *exec.Task) {
			tk.Inputs = []exec.Mount{{Source: dir, Target: "/in"}, {Source: dir, Target: "/in/"}}
		}},
		{"missing source", func(tk *exec.Task) { tk.Inputs = []exec.Mount{{Source: filepath.Join(dir, "nope"), Target: "/in"}} }},
		{"negative timeout", func(tk *exec.Task) { tk.Timeout = -time.Second }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := s.task(t, "hello")
			c.modify(tk)
			res, err := s.x.Run(context.Background(), tk)
			wantErr(t, err, exec.ErrInvalidTask)
			if res != nil {
				t.Errorf("Result = %+v, want nil", res)
			}
		})
	}
	if _, err := s.x.Run(context.Background(), nil); !errors.Is(err, exec.ErrInvalidTask) {
		t.Errorf("Run(nil) error = %v, want ErrInvalidTask", err)
	}
}

func (s *suite) close(t *testing.T) {
	x := s.h.New(t)
	done := make(chan error, 1)
	go func() {
		_, err := x.Run(context.Background(), s.task(t, "spin"))
		done <- err
	}()
	time.Sleep(time.Second) // let the run start (if it has not, it fails with ErrClosed alone)
	if err := x.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		wantErr(t, err, exec.ErrClosed)
	case <-time.After(30 * time.Second):
		t.Fatal("Close returned but the run did not")
	}
	if err := x.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err := x.Run(context.Background(), s.task(t, "hello"))
	wantErr(t, err, exec.ErrClosed)
}
