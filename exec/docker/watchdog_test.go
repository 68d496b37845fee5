package docker_test

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
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
	x, err := docker.New(context.Background(),
		docker.WithInstance(os.Getenv("SHOAL_TEST_CRASH_INSTANCE")),
		docker.WithWatchdog(os.Args[0], docker.WatchdogCommand))
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
	_, err = x.Run(context.Background(), tk)
	fmt.Fprintln(os.Stderr, "Run:", err)
	return 0
}

// TestWatchdogOutlivesExecutor: the executor runs in a child process that
// is killed (SIGKILL) or frozen (SIGSTOP) while its container runs; the
// container, its outputs keeper and volume are removed anyway, without the
// executor: at once when it died, at Timeout + WatchdogGrace when frozen.
func TestWatchdogOutlivesExecutor(t *testing.T) {
	requireDocker(t)
	for _, c := range []struct {
		name    string
		signal  syscall.Signal
		timeout time.Duration
	}{
		{"killed", syscall.SIGKILL, time.Hour},
		{"frozen", syscall.SIGSTOP, 3 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			task := "crash-" + c.name + "-" + randomHex(4)
			inst := "crash-" + randomHex(4)
			child := osexec.Command(os.Args[0])
			child.Env = append(os.Environ(), crashEnv+"="+task, "SHOAL_TEST_CRASH_IMAGE="+image,
				"SHOAL_TEST_CRASH_INSTANCE="+inst, "SHOAL_TEST_CRASH_TIMEOUT="+c.timeout.String(),
				"SHOAL_TEST_CRASH_OUTPUTS="+filepath.Join(t.TempDir(), "out"))
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
			var id string
			started := time.Now()
			for id == "" {
				if time.Since(started) > 2*time.Minute {
					t.Fatal("the job's container did not start within 2 minutes")
				}
				for _, s := range containers(t, docker.LabelTask, task) {
					if s.State == container.StateRunning && s.Labels[docker.LabelRole] == "" {
						id = s.ID
					}
				}
				if id == "" {
					time.Sleep(100 * time.Millisecond)
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
			// The keeper and the volume go too (the watchdog removes them
			// after the job's container; bounded poll).
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
				vols, err := cli.VolumeList(context.Background(), client.VolumeListOptions{Filters: client.Filters{}.Add("label", docker.LabelTask+"="+task)})
				left := len(containers(t, docker.LabelTask, task))
				if err == nil && left == 0 && len(vols.Items) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("left after a minute: %d containers, volumes %v (%v)", left, vols.Items, err)
				}
			}
		})
	}
}
