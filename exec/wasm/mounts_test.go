package wasm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/exectest"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/wasm"
)

func progHarness() exectest.Harness {
	return exectest.Harness{
		New: func(t *testing.T) exec.Executor {
			return newExecutor(t, wasm.WithCacheDir(cacheDir))
		},
		Program: func(t *testing.T) *exec.Task {
			return &exec.Task{WASM: &exec.WASMSpec{ModulePath: testprog.WASM(t)}}
		},
	}
}

// TestSymlinkInputs runs the shared symlink cases of the conformance suite.
func TestSymlinkInputs(t *testing.T) { exectest.RunSymlinkInputs(t, progHarness()) }

// TestMountSymlinkRefused runs the conformance program with an input, or
// the outputs dir, reached through a symlink: the run is refused with
// wasm.ErrSymlink and the module never reads (or writes) the target.
func TestMountSymlinkRefused(t *testing.T) {
	x := newExecutor(t, wasm.WithCacheDir(cacheDir))
	dir := t.TempDir()
	secretDir := filepath.Join(dir, "secret")
	if err := os.MkdirAll(secretDir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(secretDir, "key")
	if err := os.WriteFile(secret, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(target, name string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fileLink, dirLink := link(secret, "file-link"), link(secretDir, "dir-link")
	for _, c := range []struct {
		name string
		task func(*exec.Task)
	}{
		{"input file", func(tk *exec.Task) {
			tk.Args = []string{"cat", "/in/key"}
			tk.Inputs = []exec.Mount{{Source: fileLink, Target: "/in/key"}}
		}},
		{"input dir", func(tk *exec.Task) {
			tk.Args = []string{"cat", "/in/key"}
			tk.Inputs = []exec.Mount{{Source: dirLink, Target: "/in"}}
		}},
		{"outputs dir", func(tk *exec.Task) {
			tk.Args = []string{"write", "/outputs/key", "overwritten"}
			tk.OutputsDir = dirLink
		}},
		{"outputs under a symlinked dir", func(tk *exec.Task) {
			tk.Args = []string{"write", "/outputs/key", "overwritten"}
			tk.OutputsDir = filepath.Join(dirLink, "new")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := &exec.Task{ID: "symlink", WASM: &exec.WASMSpec{ModulePath: testprog.WASM(t)}}
			c.task(tk)
			res, err := x.Run(context.Background(), tk)
			if !errors.Is(err, wasm.ErrSymlink) || !errors.Is(err, exec.ErrInvalidTask) || res != nil {
				t.Fatalf("Run = %+v, %v; want nil and an error wrapping ErrSymlink and ErrInvalidTask", res, err)
			}
			if !strings.Contains(err.Error(), "is a symlink") {
				t.Errorf("error %q does not say what is a symlink", err)
			}
			t.Logf("refused: %v", err)
		})
	}
	if b, _ := os.ReadFile(secret); string(b) != "s3cr3t" {
		t.Errorf("the secret was overwritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(secretDir, "new")); err == nil {
		t.Errorf("an outputs dir was created through a symlink")
	}
}
