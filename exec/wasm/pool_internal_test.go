package wasm

import (
	"errors"
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/exec"
)

// TestCrashError checks how the death of a worker is told: a Go runtime
// out of memory (its address space limit) is a memory limit, anything
// else a crash.
func TestCrashError(t *testing.T) {
	e := &Executor{log: defaultConfig().log}
	for _, c := range []struct {
		stderr string
		want   error
	}{
		{"runtime: out of memory: cannot allocate 343932928-byte block (515538944 in use)\nfatal error: out of memory\n\ngoroutine 1 [running]:\n", exec.ErrMemoryLimit},
		{"panic: something else\n", ErrWorkerCrashed},
		{"", ErrWorkerCrashed},
	} {
		w := &worker{cmd: &osexec.Cmd{}, stderr: &tailBuffer{max: 1024}}
		w.stderr.Write([]byte(c.stderr))
		err := e.crashError(w, errors.New("EOF"))
		if !errors.Is(err, c.want) {
			t.Errorf("stderr %q: error %v, want %v", c.stderr, err, c.want)
		}
		if c.want == exec.ErrMemoryLimit && !strings.Contains(err.Error(), "cannot allocate 343932928-byte block") {
			t.Errorf("error %q does not quote the runtime", err)
		}
	}
}

// TestTailBuffer keeps the head and the tail of a long stream.
func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	b.Write([]byte("abcd"))
	b.Write([]byte("efghijkl"))
	b.Write([]byte("mn"))
	if got, want := b.String(), "abcd\n[...]\nklmn"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
