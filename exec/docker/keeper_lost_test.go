package docker_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
)

// TestKeeperLostFailsRun: when the keeper of a run's outputs volume stops
// before the job ends, the engine unmounts the volume's tmpfs with the
// job's files when the job stops; the run then fails saying the outputs
// were lost, never succeeds with no outputs.
func TestKeeperLostFailsRun(t *testing.T) {
	x := newExecutor(t, docker.WithOutputsVolume())
	id := "keeperlost-" + randomHex(4)
	tk := progTask(id, "touchspin", "/outputs/f")
	tk.OutputsDir = filepath.Join(t.TempDir(), "out")
	type result struct {
		res *exec.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := x.Run(context.Background(), tk)
		done <- result{res, err}
	}()
	// The job and its keeper running (bounded poll of the engine).
	var job, keeper string
	for started := time.Now(); job == "" || keeper == ""; time.Sleep(50 * time.Millisecond) {
		if time.Since(started) > 2*time.Minute {
			t.Fatal("the job and its keeper did not start within 2 minutes")
		}
		for _, c := range containers(t, docker.LabelTask, id) {
			if c.State != "running" {
				continue
			}
			if c.Labels[docker.LabelRole] == "keeper" {
				keeper = c.ID
			} else if c.Labels[docker.LabelRole] == "" {
				job = c.ID
			}
		}
	}
	ctx := context.Background()
	for _, c := range []string{keeper, job} { // the keeper first, then the job ends
		if _, err := cli.ContainerKill(ctx, c, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			t.Fatal(err)
		}
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("Run did not return")
	}
	if !errors.Is(r.err, exec.ErrEngineUnavailable) || !strings.Contains(r.err.Error(), "outputs were lost") {
		t.Fatalf("Run = %+v, %v; want the outputs lost", r.res, r.err)
	}
}
