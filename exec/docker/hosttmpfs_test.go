package docker_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/shoalnet/shoal/exec/docker"
)

// requireMount skips t unless this process may mount a tmpfs (root or
// CAP_SYS_ADMIN), which the host tmpfs outputs need.
func requireMount(t *testing.T) {
	t.Helper()
	if !canMount() {
		t.Skip("this process cannot mount a tmpfs: run as root for the host tmpfs outputs")
	}
}

func canMount() bool {
	dir, err := os.MkdirTemp("", "shoal-mount-")
	if err != nil {
		return false
	}
	defer os.Remove(dir)
	if err := syscall.Mount("shoal-test", dir, "tmpfs", 0, "size=4096"); err != nil {
		return false
	}
	return syscall.Unmount(dir, 0) == nil
}

// TestReapOrphanMounts: the outputs tmpfs of a run whose executor died
// (SIGKILL, no watchdog) stays mounted on the host; ReapOrphans unmounts it
// and removes its mount point, but not another instance's tmpfs nor that of
// a run in progress.
func TestReapOrphanMounts(t *testing.T) {
	requireDocker(t)
	requireMount(t)
	inst := "reapm-" + randomHex(4)
	task := "reapm-" + randomHex(4)
	child, _ := crashChild(t, task, inst, time.Hour, "SHOAL_TEST_CRASH_NO_WATCHDOG=1")
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	left := outputsMountsOf(t, inst)
	if len(left) != 1 {
		t.Fatalf("outputs tmpfs after the crash: %q, want one", left)
	}

	// Another instance's (a daemon still running) is not touched.
	other := filepath.Join(t.TempDir(), "other")
	os.Mkdir(other, 0o755)
	if err := syscall.Mount(docker.MountSource+":other-"+randomHex(4), other, "tmpfs", 0, "size=4096"); err != nil {
		t.Fatal(err)
	}
	defer syscall.Unmount(other, syscall.MNT_DETACH)

	// A run of this executor in progress keeps its tmpfs.
	x := newExecutor(t, docker.WithInstance(inst))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := "reapm-live-" + randomHex(4)
	done := make(chan error, 1)
	go func() {
		tk := progTask(live, "sleep", "1h")
		tk.OutputsDir = filepath.Join(t.TempDir(), "out")
		_, err := x.Run(ctx, tk)
		done <- err
	}()
	running := func() bool { // the job's own container (not the probe)
		for _, s := range containers(t, docker.LabelTask, live) {
			if s.State == container.StateRunning && s.Labels[docker.LabelRole] == "" {
				return true
			}
		}
		return false
	}
	for started := time.Now(); !running(); time.Sleep(100 * time.Millisecond) {
		if time.Since(started) > 2*time.Minute {
			t.Fatal("the live run did not start within 2 minutes")
		}
	}

	if _, err := x.ReapOrphans(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms := outputsMountsOf(t, inst); len(ms) != 1 || ms[0] == left[0] {
		t.Errorf("after ReapOrphans: %q mounted, want only the live run's (the orphan was %s)", ms, left[0])
	}
	if _, err := os.Lstat(left[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the orphan's mount point is left: %v", err)
	}
	if ms := mountsUnder(t, other); len(ms) != 1 {
		t.Errorf("another instance's tmpfs was unmounted")
	}
	if got := containers(t, docker.LabelTask, task); len(got) != 0 {
		t.Errorf("the orphan container is left")
	}
	cancel()
	<-done
	if ms := outputsMountsOf(t, inst); len(ms) != 0 {
		t.Errorf("after the live run: %q mounted", ms)
	}
}

// mountsUnder returns the mount points of /proc/self/mountinfo at or below
// dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Clean(dir)
	var ms []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			ms = append(ms, f[4])
		}
	}
	return ms
}

// TestOutputsOtherMountNamespace: an executor whose process has a mount
// namespace of its own (a container given the engine's socket, a systemd
// unit with PrivateTmp), where the engine does not see its mounts, must not
// hand the job the directory below its tmpfs (unbounded, on the node's
// disk): it falls back to the keeper, and the bound holds.
func TestOutputsOtherMountNamespace(t *testing.T) {
	requireDocker(t)
	requireMount(t)
	const limit = 2 << 20
	out := filepath.Join(t.TempDir(), "out")
	inst := "ns-" + randomHex(4)
	child := osexec.Command(os.Args[0])
	child.Env = append(os.Environ(), crashEnv+"=ns-"+randomHex(4), "SHOAL_TEST_CRASH_IMAGE="+image,
		"SHOAL_TEST_CRASH_INSTANCE="+inst, "SHOAL_TEST_CRASH_TIMEOUT=2m", "SHOAL_TEST_CRASH_OUTPUTS="+out,
		"SHOAL_TEST_CRASH_ARGS=fill /outputs/big "+fmt.Sprint(8<<20), "SHOAL_TEST_CRASH_DISK="+fmt.Sprint(limit))
	// A new mount namespace, its mounts private (Go makes / MS_REC|MS_PRIVATE).
	child.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	t.Cleanup(func() {
		x := newExecutor(t, docker.WithInstance(inst))
		x.ReapOrphans(context.Background())
	})
	b, err := child.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "disk limit") || !strings.Contains(string(b), "do not see") && !strings.Contains(string(b), "does not see") {
		t.Errorf("child's Run did not fall back and fail at the disk limit:\n%s", b)
	}
	if n := dirBytes(t, filepath.Dir(out)); n > limit+4096 {
		t.Errorf("%d bytes reached the host, more than the limit of %d", n, limit)
	}
}

// TestReapOrphansDuringRuns: ReapOrphans, called again and again while
// runs with outputs go on, removes nothing of theirs: not the probe, the
// keeper or the job's container in the moment between their creation and
// the engine's answer with their ID, nor the host tmpfs.
func TestReapOrphansDuringRuns(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []docker.Option
	}{{"host tmpfs", nil}, {"keeper", []docker.Option{docker.WithOutputsVolume()}}} {
		t.Run(c.name, func(t *testing.T) {
			x := newExecutor(t, append([]docker.Option{docker.WithInstance("reapd-" + randomHex(4))}, c.opts...)...)
			stop := make(chan struct{})
			reaped := make(chan int)
			go func() {
				n := 0
				for {
					select {
					case <-stop:
						reaped <- n
						return
					default:
					}
					x.ReapOrphans(context.Background())
					n++
				}
			}()
			for i := range 8 {
				tk := progTask("reapd-"+randomHex(4), "write", "/outputs/f", "x")
				tk.OutputsDir = filepath.Join(t.TempDir(), "out")
				res, err := x.Run(context.Background(), tk)
				if err != nil || res.ExitCode != 0 {
					t.Errorf("run %d: Run = %+v, %v", i, res, err)
				} else if b, err := os.ReadFile(filepath.Join(tk.OutputsDir, "f")); err != nil || string(b) != "x" {
					t.Errorf("run %d: outputs %q, %v", i, b, err)
				}
			}
			close(stop)
			t.Logf("%d ReapOrphans during the runs", <-reaped)
		})
	}
}
