package docker_test

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
)

// crashEnv, set, makes the test binary an executor running one task
// (crashExecutor) until a test kills it.
const crashEnv = "SHOAL_TEST_CRASH_TASK"

// crashExecutor runs a long task with the watchdog of this test binary.
func crashExecutor() int {
	timeout, _ := time.ParseDuration(os.Getenv("SHOAL_TEST_CRASH_TIMEOUT"))
	opts := []docker.Option{docker.WithInstance(os.Getenv("SHOAL_TEST_CRASH_INSTANCE"))}
	if os.Getenv("SHOAL_TEST_CRASH_NO_WATCHDOG") == "" {
		opts = append(opts, docker.WithWatchdog(os.Args[0], docker.WatchdogCommand))
	}
	if os.Getenv("SHOAL_TEST_CRASH_KEEPER") != "" {
		opts = append(opts, docker.WithOutputsVolume())
	}
	x, err := docker.New(context.Background(), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tk := &exec.Task{
		ID:         os.Getenv(crashEnv),
		Docker:     &exec.DockerSpec{Image: os.Getenv("SHOAL_TEST_CRASH_IMAGE")},
		Args:       []string{"sleep", "1h"},
		Timeout:    timeout,
		OutputsDir: os.Getenv("SHOAL_TEST_CRASH_OUTPUTS"),
	}
	if args := os.Getenv("SHOAL_TEST_CRASH_ARGS"); args != "" {
		tk.Args = strings.Fields(args)
	}
	tk.Limits.DiskBytes, _ = strconv.ParseInt(os.Getenv("SHOAL_TEST_CRASH_DISK"), 10, 64)
	_, err = x.Run(context.Background(), tk)
	fmt.Fprintln(os.Stderr, "Run:", err)
	return 0
}

// crashChild starts the test binary as an executor (crashExecutor) of a
// "sleep 1h" task with env added, and returns it and the ID of the task's
// container once it runs. The child and what it left are removed at the end
// of t.
func crashChild(t *testing.T, task, inst string, timeout time.Duration, env ...string) (*osexec.Cmd, string) {
	t.Helper()
	child := osexec.Command(os.Args[0])
	child.Env = append(os.Environ(), crashEnv+"="+task, "SHOAL_TEST_CRASH_IMAGE="+image,
		"SHOAL_TEST_CRASH_INSTANCE="+inst, "SHOAL_TEST_CRASH_TIMEOUT="+timeout.String(),
		"SHOAL_TEST_CRASH_OUTPUTS="+filepath.Join(t.TempDir(), "out"))
	child.Env = append(child.Env, env...)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Process.Signal(syscall.SIGKILL)
		child.Process.Signal(syscall.SIGCONT)
		child.Wait()
		x := newExecutor(t, docker.WithInstance(inst)) // removes what a failed run left
		x.ReapOrphans(context.Background())
	})
	// The job's container running (bounded poll of the engine).
	for started := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if time.Since(started) > 2*time.Minute {
			t.Fatal("the job's container did not start within 2 minutes")
		}
		for _, s := range containers(t, docker.LabelTask, task) {
			if s.State == container.StateRunning && s.Labels[docker.LabelRole] == "" {
				return child, s.ID
			}
		}
	}
}

// outputsMountsOf returns the mount points of the outputs tmpfs of
// instance in /proc/self/mountinfo.
func outputsMountsOf(t *testing.T, inst string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var ms []string
	for _, l := range strings.Split(string(b), "\n") {
		if _, rest, ok := strings.Cut(l, " - "); ok && strings.HasPrefix(rest, "tmpfs "+docker.MountSource+":"+inst+" ") {
			ms = append(ms, strings.Fields(l)[4])
		}
	}
	return ms
}

// TestWatchdogOutlivesExecutor: the executor runs in a child process that
// is killed (SIGKILL) or frozen (SIGSTOP) while its container runs; the
// container, its outputs (host tmpfs, or keeper and volume) are removed
// anyway, without the executor: at once when it died, at Timeout +
// WatchdogGrace when frozen.
func TestWatchdogOutlivesExecutor(t *testing.T) {
	requireDocker(t)
	for _, c := range []struct {
		name    string
		signal  syscall.Signal
		timeout time.Duration
		env     []string
	}{
		{"killed", syscall.SIGKILL, time.Hour, nil},
		{"frozen", syscall.SIGSTOP, 3 * time.Second, nil},
		{"killed keeper", syscall.SIGKILL, time.Hour, []string{"SHOAL_TEST_CRASH_KEEPER=1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			task := "crash-" + strings.ReplaceAll(c.name, " ", "-") + "-" + randomHex(4)
			inst := "crash-" + randomHex(4)
			child, id := crashChild(t, task, inst, c.timeout, c.env...)
			if c.env == nil && canMount() {
				if ms := outputsMountsOf(t, inst); len(ms) != 1 {
					t.Fatalf("outputs tmpfs mounts %q, want one", ms)
				}
			}
			runStart := time.Now()
			if err := child.Process.Signal(c.signal); err != nil {
				t.Fatal(err)
			}

			bound := time.Minute // generous on a loaded machine; the executor's own Timeout is not reached when killed
			if c.signal == syscall.SIGSTOP {
				bound += c.timeout + docker.WatchdogGrace
			}
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			wait := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
			select {
			case <-wait.Result:
			case err := <-wait.Error:
				if !cerrdefs.IsNotFound(err) {
					t.Fatalf("the container was not removed: %v", err)
				}
			}
			elapsed := time.Since(runStart)
			t.Logf("removed %s after the %s executor", elapsed.Round(time.Millisecond), c.name)
			if c.signal == syscall.SIGSTOP && elapsed < c.timeout {
				t.Errorf("removed after %s, before the task's timeout of %s, while the executor lived", elapsed, c.timeout)
			}
			// The keeper, the volume and the host tmpfs go too (the
			// watchdog removes them after the job's container; bounded
			// poll).
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
				vols, err := cli.VolumeList(context.Background(), client.VolumeListOptions{Filters: client.Filters{}.Add("label", docker.LabelTask+"="+task)})
				left := len(containers(t, docker.LabelTask, task))
				mounts := outputsMountsOf(t, inst)
				if err == nil && left == 0 && len(vols.Items) == 0 && len(mounts) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("left after a minute: %d containers, volumes %v (%v), mounts %q", left, vols.Items, err, mounts)
				}
			}
		})
	}
}
