package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/wasm"
)

// TestOutputsDiskLimit writes to the outputs past Limits.DiskBytes in the
// ways a module can: plain writes, a write far past the end (a sparse
// file), a truncate that extends, many files. Each is refused inside the
// module and the run fails with ErrDiskLimit.
func TestOutputsDiskLimit(t *testing.T) {
	x := newExecutor(t, wasm.WithCacheDir(cacheDir))
	const limit = 1 << 20
	run := func(t *testing.T, out string, args ...string) (*exec.Result, error) {
		t.Helper()
		return x.Run(context.Background(), &exec.Task{ID: "disk", WASM: &exec.WASMSpec{ModulePath: testprog.WASM(t)},
			Args: args, OutputsDir: out, Limits: exec.Limits{DiskBytes: limit}})
	}
	t.Run("within the limit", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		for range 3 { // rewriting one file counts it once
			res, err := run(t, out, "fill", "/outputs/a", fmt.Sprint(limit/2))
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("Run = %+v, %v", res, err)
			}
		}
		if st, err := os.Stat(filepath.Join(out, "a")); err != nil || st.Size() != limit/2 {
			t.Fatalf("outputs file: %v, %v", st, err)
		}
	})
	for _, c := range []struct {
		name string
		args []string
	}{
		{"write", []string{"fill", "/outputs/big", fmt.Sprint(2 * limit)}},
		{"write far past the end", []string{"seekwrite", "/outputs/sparse", fmt.Sprint(1 << 40)}},
		{"truncate up", []string{"truncate", "/outputs/new", fmt.Sprint(1 << 40)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if c.args[0] == "truncate" {
				if err := os.MkdirAll(out, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, "new"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res, err := run(t, out, c.args...)
			if !errors.Is(err, exec.ErrDiskLimit) || res == nil {
				t.Fatalf("Run = %+v, %v; want the partial Result and ErrDiskLimit", res, err)
			}
			if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "write error") {
				t.Errorf("the module did not see its write fail: exit %d, stderr %q", res.ExitCode, res.Stderr)
			}
			t.Logf("refused: %v", err)
			var total int64
			_ = filepath.Walk(out, func(_ string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() {
					total += fi.Size()
				}
				return nil
			})
			if total > limit {
				t.Errorf("the outputs hold %d bytes, past the limit of %d", total, limit)
			}
		})
	}
}
