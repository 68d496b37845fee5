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

// TestReadFrameBounds checks that a frame is refused before its payload is
// read when its type is unknown or unexpected, or its length is over the
// type's bound.
func TestReadFrameBounds(t *testing.T) {
	frame := func(typ byte, n uint32) []byte {
		return append([]byte{typ, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, make([]byte, min(n, 1<<16))...)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want []byte
		ok   bool
	}{
		{"stdout chunk", frame(frameStdout, chunkBytes), nil, true},
		{"stdout over its bound", frame(frameStdout, chunkBytes+1), nil, false},
		{"result over its bound", frame(frameResult, maxControlBytes+1), nil, false},
		{"task at 4 GiB", frame(frameTask, 1<<32-1), nil, false},
		{"module over the module bound", frame(frameModule, 1001), []byte{frameModule}, false},
		{"unknown type", frame(frameLast+1, 1), nil, false},
		{"type zero", frame(0, 1), nil, false},
		{"unexpected type", frame(frameStdout, 1), []byte{frameResult}, false},
		{"truncated payload", frame(frameStdout, 10)[:8], nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readFrame(strings.NewReader(string(c.b)), 1000, c.want...)
			if (err == nil) != c.ok {
				t.Fatalf("readFrame: %v, want ok=%v", err, c.ok)
			}
		})
	}
}
