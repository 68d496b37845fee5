package wasm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/exectest"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/wasm"
)

// workerEnv makes the test binary a worker process (see TestMain).
const workerEnv = "SHOAL_WASM_TEST_WORKER"

// selfWorker re-executes this test binary as a worker.
func selfWorker(t testing.TB) wasm.WorkerCmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return wasm.WorkerCmd{Path: exe, Env: []string{workerEnv + "=1"}}
}

// newPooled returns an executor running modules in n worker processes of
// this test binary.
func newPooled(t testing.TB, n int, opts ...wasm.Option) *wasm.Executor {
	t.Helper()
	base := []wasm.Option{wasm.WithWorkers(n, selfWorker(t))}
	if raceEnabled {
		base = append(base, wasm.WithWorkerAddressSpace(0)) // the race detector maps terabytes
	}
	return newExecutor(t, append(base, opts...)...)
}

func killWorkers(t *testing.T, x exec.Executor) {
	pids := wasm.WorkerPIDs(x.(*wasm.Executor))
	if len(pids) == 0 {
		t.Fatal("no worker process")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConformanceWorkers(t *testing.T) {
	exectest.Run(t, exectest.Harness{
		New: func(t *testing.T) exec.Executor {
			return newPooled(t, 4, wasm.WithCacheDir(cacheDir))
		},
		Program: func(t *testing.T) *exec.Task {
			return &exec.Task{WASM: &exec.WASMSpec{ModulePath: testprog.WASM(t)}}
		},
		StopWithin:      100 * time.Millisecond,
		KillWorkers:     killWorkers,
		WorkerKilledErr: wasm.ErrWorkerCrashed,
	})
}

// spinModule exports _start, which loops forever.
var spinModule = module(funcs(1), exportStart, code([]byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b}))

// TestWorkerHygiene checks what a worker process holds: no descriptor of
// the daemon beyond its three pipes (a socket of the daemon open during
// the start must not reach it), no_new_privs, and its address space limit.
func TestWorkerHygiene(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A descriptor the daemon inherited without close-on-exec.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := unix.FcntlInt(r.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	x := newExecutor(t, wasm.WithWorkers(1, selfWorker(t)), wasm.WithWorkerAddressSpace(3<<30))
	if res, err := x.Run(context.Background(), &exec.Task{WASM: &exec.WASMSpec{Module: bigMemoryModule}, Limits: exec.Limits{MemoryBytes: 256 << 20}}); err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	pids := wasm.WorkerPIDs(x)
	if len(pids) != 1 {
		t.Fatalf("worker pids = %v, want one", pids)
	}
	proc := fmt.Sprintf("/proc/%d", pids[0])
	ents, err := os.ReadDir(proc + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		link, _ := os.Readlink(proc + "/fd/" + e.Name())
		t.Logf("fd %s -> %s", e.Name(), link)
		n, _ := strconv.Atoi(e.Name())
		switch {
		case strings.HasPrefix(link, "socket:"):
			t.Errorf("the worker holds a socket: fd %s -> %s", e.Name(), link)
		case n <= 2 && !strings.HasPrefix(link, "pipe:"):
			t.Errorf("fd %d -> %s, want a pipe", n, link)
		case n > 2 && !strings.HasPrefix(link, "anon_inode:") && !strings.HasPrefix(link, "/sys/fs/cgroup/"):
			// The Go runtime's own: epoll, eventfd, the cgroup's CPU quota.
			t.Errorf("the worker holds fd %s -> %s beyond the Go runtime's own", e.Name(), link)
		}
	}
	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^NoNewPrivs:\s+1$`).Match(status) {
		t.Errorf("the worker runs without no_new_privs:\n%s", status)
	}
	limits, err := os.ReadFile(proc + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`Max address space\s+3221225472\s+3221225472\s+bytes`).Match(limits) {
		t.Errorf("the worker's address space is not limited to 3 GiB:\n%s", limits)
	}
	if !regexp.MustCompile(`Max core file size\s+0\s+0`).Match(limits) {
		t.Errorf("the worker may dump core:\n%s", limits)
	}
}

// TestWorkerAddressSpaceLimit runs a memory bomb under a memory limit
// larger than the worker's address space: the task fails with
// ErrMemoryLimit saying so (not as a crash or a trap) and the next task
// runs. The worker is built without the race detector, whose shadow
// memory an address space limit cannot hold.
func TestWorkerAddressSpaceLimit(t *testing.T) {
	bin := testprog.Build(t, "github.com/shoalnet/shoal/exec/wasm/internal/workerprog", "linux", runtime.GOARCH)
	x := newExecutor(t, wasm.WithCacheDir(cacheDir), wasm.WithWorkers(1, wasm.WorkerCmd{Path: bin}), wasm.WithWorkerAddressSpace(3<<30))
	prog := testprog.WASM(t)
	res, err := x.Run(context.Background(), &exec.Task{
		ID: "bomb", WASM: &exec.WASMSpec{ModulePath: prog}, Args: []string{"alloc", "64"},
		Limits: exec.Limits{MemoryBytes: wasm.DefaultMaxMemory}, Timeout: time.Minute,
	})
	if !errors.Is(err, exec.ErrMemoryLimit) || errors.Is(err, wasm.ErrWorkerCrashed) {
		t.Fatalf("Run = %+v, %v; want ErrMemoryLimit", res, err)
	}
	if !strings.Contains(err.Error(), "address space") || res == nil || res.ExitCode != -1 {
		t.Errorf("Run = %+v, %v; want a partial result and an error naming the address space", res, err)
	}
	t.Log(err)
	res, err = x.Run(context.Background(), &exec.Task{ID: "after", WASM: &exec.WASMSpec{ModulePath: prog}, Args: []string{"alloc", "16"}, Limits: exec.Limits{MemoryBytes: 256 << 20}})
	if !errors.Is(err, exec.ErrMemoryLimit) || strings.Contains(err.Error(), "address space") || !strings.Contains(string(res.Stdout), "allocated MiB: 192") {
		t.Fatalf("the run after = %+v, %v; want a plain memory limit after using most of it", res, err)
	}
}

// parentEnv makes the test binary a daemon that starts a spinning task in
// a worker, prints the worker's pid and exits without closing its executor
// (see TestMain and TestWorkersDieWithDaemon).
const parentEnv = "SHOAL_WASM_TEST_PARENT"

func runParent() {
	x, err := wasm.New(context.Background(), wasm.WithWorkers(1, wasm.WorkerCmd{Path: os.Args[0], Env: []string{workerEnv + "=1"}}), wasm.WithWorkerAddressSpace(0))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	out := os.Getenv(parentEnv)
	go x.Run(context.Background(), &exec.Task{WASM: &exec.WASMSpec{ModulePath: os.Getenv("SHOAL_WASM_TEST_PROG")}, Args: []string{"touchspin", "/outputs/started"}, OutputsDir: out})
	for {
		if _, err := os.Stat(filepath.Join(out, "started")); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("pid", wasm.WorkerPIDs(x)[0])
	os.Exit(0)
}

// TestWorkersDieWithDaemon checks that a worker spinning in a module (so
// not reading its stdin, whose end would tell it) dies when its daemon
// exits without closing the executor: Pdeathsig.
func TestWorkersDieWithDaemon(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(exe)
	cmd.Env = append(os.Environ(), parentEnv+"="+t.TempDir(), "SHOAL_WASM_TEST_PROG="+testprog.WASM(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("parent: %v\n%s", err, out)
	}
	var pid int
	if _, err := fmt.Sscanf(string(out), "pid %d", &pid); err != nil {
		t.Fatalf("parent output %q: %v", out, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The worker was a child of the parent, so init reaps it: kill(0)
		// fails once it is gone.
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z ") {
			return // dead, not yet reaped
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("worker %d still alive 10 s after its daemon exited", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockingReader never returns until released.
type blockingReader struct{ release chan struct{} }

func (r *blockingReader) Read([]byte) (int, error) {
	<-r.release
	return 0, io.EOF
}

// TestWorkerStdinBlocks runs, in one worker, a task whose Stdin blocks
// forever and whose module does not read it: Run returns, and the worker
// (whose stdin stream cannot end) is replaced, so the next task runs.
func TestWorkerStdinBlocks(t *testing.T) {
	x := newPooled(t, 1, wasm.WithCacheDir(cacheDir))
	r := &blockingReader{release: make(chan struct{})}
	defer close(r.release)
	prog := testprog.WASM(t)
	run := func(in io.Reader, args ...string) string {
		t.Helper()
		res, err := x.Run(context.Background(), &exec.Task{WASM: &exec.WASMSpec{ModulePath: prog}, Args: args, Stdin: in, Timeout: time.Minute})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Run(%v) = %+v, %v", args, res, err)
		}
		return string(res.Stdout)
	}
	if out := run(strings.NewReader("x"), "echo"); out != "stdin:x\n" {
		t.Fatalf("Stdout = %q", out)
	}
	first := wasm.WorkerPIDs(x)
	if out := run(strings.NewReader("y"), "hello"); out != "hello from shoal\n" { // stdin not read: drained
		t.Fatalf("Stdout = %q", out)
	}
	if got := wasm.WorkerPIDs(x); !slices.Equal(got, first) {
		t.Fatalf("workers %v after a run whose stdin ended, want %v (reused)", got, first)
	}
	if out := run(r, "hello"); out != "hello from shoal\n" {
		t.Fatalf("Stdout = %q", out)
	}
	if got := wasm.WorkerPIDs(x); slices.Contains(got, first[0]) {
		t.Fatalf("worker %d still in the pool after a run whose stdin blocks", first[0])
	}
	if out := run(strings.NewReader("z"), "echo"); out != "stdin:z\n" {
		t.Fatalf("Stdout = %q", out)
	}
}

// TestWorkerNice: every thread of a worker runs at the configured nice
// value, and the daemon's own threads keep theirs, but for the one locked
// thread that forks the workers.
func TestWorkerNice(t *testing.T) {
	if _, err := wasm.New(context.Background(), wasm.WithWorkerNice(20)); err == nil {
		t.Fatal("WithWorkerNice(20): no error")
	}
	x := newPooled(t, 1, wasm.WithWorkerNice(7))
	if res, err := x.Run(context.Background(), &exec.Task{WASM: &exec.WASMSpec{ModulePath: testprog.WASM(t)}, Args: []string{"hello"}, Timeout: time.Minute}); err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	pids := wasm.WorkerPIDs(x)
	if len(pids) != 1 {
		t.Fatalf("worker pids = %v, want one", pids)
	}
	threadNice := func(pid int) map[string]int {
		t.Helper()
		stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(stats) == 0 {
			t.Fatalf("threads of %d: %v", pid, err)
		}
		out := map[string]int{}
		for _, s := range stats {
			b, err := os.ReadFile(s)
			if err != nil {
				continue // the thread ended
			}
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			n, err := strconv.Atoi(f[16]) // field 19 of proc_pid_stat(5)
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			out[s] = n
		}
		return out
	}
	for s, n := range threadNice(pids[0]) {
		if n != 7 {
			t.Errorf("%s: nice %d, want 7", s, n)
		}
	}
	niced := 0
	for _, n := range threadNice(os.Getpid()) {
		if n == 7 {
			niced++
		}
	}
	if niced != 1 {
		t.Errorf("%d threads of the daemon run at the workers' nice value, want 1 (the spawner)", niced)
	}
}
