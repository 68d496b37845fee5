package wasm_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/wasm"
)

func example(t testing.TB, name string) string {
	return testprog.Build(t, "github.com/shoalnet/shoal/examples/"+name, "wasip1", "wasm")
}

// TestExamples runs the programs of examples/ as a node would.
func TestExamples(t *testing.T) {
	x := newExecutor(t, wasm.WithCacheDir(cacheDir))
	run := func(t *testing.T, tk *exec.Task) *exec.Result {
		t.Helper()
		res, err := x.Run(context.Background(), tk)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Run = %+v, %v", res, err)
		}
		return res
	}

	t.Run("hello", func(t *testing.T) {
		res := run(t, &exec.Task{WASM: &exec.WASMSpec{ModulePath: example(t, "hello")}})
		if got, want := string(res.Stdout), "hello, world, from shoal\n"; got != want {
			t.Errorf("Stdout = %q, want %q", got, want)
		}
	})

	t.Run("wordcount", func(t *testing.T) {
		in, out := t.TempDir(), t.TempDir()
		os.WriteFile(filepath.Join(in, "a.txt"), []byte("the cat and the hat"), 0o644)
		os.MkdirAll(filepath.Join(in, "sub"), 0o755)
		os.WriteFile(filepath.Join(in, "sub", "b.txt"), []byte("The end."), 0o644)
		res := run(t, &exec.Task{
			WASM:       &exec.WASMSpec{ModulePath: example(t, "wordcount")},
			Inputs:     []exec.Mount{{Source: in, Target: "/inputs"}},
			OutputsDir: out,
		})
		if got, want := string(res.Stdout), "2 files, 7 words, 5 distinct; counts in /outputs/counts.txt\n"; got != want {
			t.Errorf("Stdout = %q, want %q", got, want)
		}
		b, _ := os.ReadFile(filepath.Join(out, "counts.txt"))
		if got, want := string(b), "3 the\n1 and\n1 cat\n1 end\n1 hat\n"; got != want {
			t.Errorf("counts.txt = %q, want %q", got, want)
		}
	})

	t.Run("sha256sum", func(t *testing.T) {
		res := run(t, &exec.Task{WASM: &exec.WASMSpec{ModulePath: example(t, "sha256sum")}, Args: []string{"-gen", "3"}})
		if got, want := string(res.Stdout), fmt.Sprintf("%x  generated:3MiB\n", generated(3)); got != want {
			t.Errorf("Stdout = %q, want %q", got, want)
		}
		in := t.TempDir()
		os.WriteFile(filepath.Join(in, "f"), []byte("abc"), 0o644)
		res = run(t, &exec.Task{
			WASM:   &exec.WASMSpec{ModulePath: example(t, "sha256sum")},
			Args:   []string{"/data"},
			Inputs: []exec.Mount{{Source: in, Target: "/data"}},
		})
		if got, want := string(res.Stdout), fmt.Sprintf("%x  /data/f\n", sha256.Sum256([]byte("abc"))); got != want {
			t.Errorf("Stdout = %q, want %q", got, want)
		}
	})
}

// generated is examples/sha256sum's -gen, natively.
func generated(mib int) []byte {
	block := make([]byte, 1<<20)
	x := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < len(block); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(block[i:], x)
	}
	h := sha256.New()
	for i := range mib {
		binary.LittleEndian.PutUint64(block, uint64(i))
		h.Write(block)
	}
	return h.Sum(nil)
}
