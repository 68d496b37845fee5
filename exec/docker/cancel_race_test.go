package docker_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec/docker"
)

// TestCancelDuringPrepareLeavesNothing cancels runs at spread-out moments
// of their preparation (image check, outputs mount, container create,
// start): whatever the moment, no container of the task is left on the
// engine once Run returned. A create cancelled midway used to leave a
// "Created" container the engine finished after the remove by name.
func TestCancelDuringPrepareLeavesNothing(t *testing.T) {
	x := newExecutor(t)
	for i := range 60 {
		tk := progTask("cancelrace-"+randomHex(4), "sleep", "5s")
		tk.OutputsDir = t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		// 0, 1, 2, ... ms: the first steps of a run take tens of ms.
		timer := time.AfterFunc(time.Duration(i)*time.Millisecond, cancel)
		_, err := x.Run(ctx, tk)
		timer.Stop()
		cancel()
		if err == nil {
			t.Fatalf("run %d: a cancelled run returned no error", i)
		}
		if got := containers(t, docker.LabelTask, tk.ID); len(got) != 0 {
			t.Fatalf("run %d (cancelled after %d ms): %d containers left: %+v", i, i, len(got), got[0].State)
		}
	}
}
