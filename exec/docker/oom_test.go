package docker

import (
	"errors"
	"testing"

	"github.com/shoalnet/shoal/exec"
)

// A run the executor did not stop is at its memory limit when the engine
// says so, and also when the container's init died of SIGKILL (exit 137)
// without the engine saying so: containerd 1.6 registers its OOM monitor
// after the program starts and sends the OOM and exit events from two
// goroutines, so under load Docker's State.OOMKilled is false for some
// OOM kills (seen here: the "oom" event 1.4 s after "die", or none at all).
// Nothing inside a container can SIGKILL its init, and this executor did
// not, so exit 137 is the kernel's OOM killer.
func TestMemoryLimitStop(t *testing.T) {
	for _, c := range []struct {
		name      string
		exit      int
		oomKilled bool
		want      error
	}{
		{"flagged by the engine", 137, true, exec.ErrMemoryLimit},
		{"SIGKILL, not flagged (engine lost the OOM event)", 137, false, exec.ErrMemoryLimit},
		{"a child OOM-killed, init exits 1, flagged", 1, true, exec.ErrMemoryLimit},
		{"exit 0", 0, false, nil},
		{"exit 1", 1, false, nil},
		{"SIGTERM", 143, false, nil},
		{"SIGSEGV", 139, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := memoryLimitStop(c.exit, c.oomKilled, 64<<20)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("memoryLimitStop(%d, %v) = %v, want %v", c.exit, c.oomKilled, err, c.want)
			}
		})
	}
}
