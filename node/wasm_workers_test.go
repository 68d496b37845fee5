package node

import (
	"runtime"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/exec/wasm"
)

// wasm.workers: 0 is one per slot (slots 0: one per CPU), -1 runs modules
// in the daemon, below -1 a clear error; without a worker command (a test
// binary) modules run in the daemon whatever the key says.
func TestWASMWorkers(t *testing.T) {
	cmd := wasm.WorkerCmd{Path: "/usr/local/bin/shoal", Args: []string{wasm.WorkerCommand}}
	for _, tc := range []struct {
		name           string
		workers, slots int
		cmd            wasm.WorkerCmd
		want           int
	}{
		{"default, slots set", 0, 3, cmd, 3},
		{"default, slots default", 0, 0, cmd, runtime.NumCPU()},
		{"set", 5, 3, cmd, 5},
		{"in process", -1, 3, cmd, 0},
		{"no worker command", 4, 3, wasm.WorkerCmd{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DefaultConfig(ProfileLocal)
			if err != nil {
				t.Fatal(err)
			}
			c.WASM.Workers, c.Jobs.Slots = tc.workers, tc.slots
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			n := &Node{cfg: c, wasmWorker: tc.cmd}
			if got := n.wasmWorkers(); got != tc.want {
				t.Errorf("wasmWorkers() = %d, want %d", got, tc.want)
			}
		})
	}
	c, err := DefaultConfig(ProfileLocal)
	if err != nil {
		t.Fatal(err)
	}
	c.WASM.Workers = -2
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "wasm.workers is -2") {
		t.Errorf("Validate with wasm.workers -2: %v, want a clear error", err)
	}
	c.WASM.Workers = 0
	for _, nice := range []int{-1, 20} {
		c.WASM.Nice = nice
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "wasm.nice is") {
			t.Errorf("Validate with wasm.nice %d: %v, want a clear error", nice, err)
		}
	}
}
