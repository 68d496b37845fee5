// Package testprog builds the programs the exec tests run: the conformance
// program in ./prog (for wasip1/wasm and as a static linux binary) and, for
// the Docker engine, an image holding it. Builds happen once per test
// binary, in a directory removed by [Cleanup] (call it from TestMain).
package testprog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Import paths of the test programs.
const (
	// Prog is the conformance program.
	Prog = "github.com/shoalnet/shoal/exec/internal/testprog/prog"
	// DetProg prints what differs between runs unless they are deterministic.
	DetProg = "github.com/shoalnet/shoal/exec/internal/testprog/detprog"
)

var (
	mu     sync.Mutex
	dir    string
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	path string
	err  error
}

// WASM returns the path of the conformance program built for wasip1/wasm.
func WASM(tb testing.TB) string { return Build(tb, Prog, "wasip1", "wasm") }

// Linux returns the path of the conformance program built as a static
// linux binary for this machine's architecture.
func Linux(tb testing.TB) string { return Build(tb, Prog, "linux", runtime.GOARCH) }

// Build builds the main package pkg (an import path of this module) for
// goos/goarch with CGO_ENABLED=0, once per process, and returns the path of
// the binary.
func Build(tb testing.TB, pkg, goos, goarch string) string {
	tb.Helper()
	p, err := BuildErr(pkg, goos, goarch)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BuildErr is Build for callers without a testing.TB (benchmarks' setup,
// TestMain).
func BuildErr(pkg, goos, goarch string) (string, error) {
	key := pkg + "@" + goos + "/" + goarch
	mu.Lock()
	if dir == "" {
		d, err := os.MkdirTemp("", "shoal-testprog-")
		if err != nil {
			mu.Unlock()
			return "", err
		}
		dir = d
	}
	b := builds[key]
	if b == nil {
		b = &build{}
		builds[key] = b
	}
	out := dir
	mu.Unlock()

	b.once.Do(func() {
		name := strings.NewReplacer("/", "_", "@", "_").Replace(key)
		if goos == "wasip1" {
			name += ".wasm"
		}
		b.path = filepath.Join(out, name)
		cmd := exec.Command(goBin(), "build", "-trimpath", "-o", b.path, pkg)
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s for %s/%s: %w\n%s", pkg, goos, goarch, err, o)
		}
	})
	return b.path, b.err
}

// Cleanup removes the built binaries.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
		builds = map[string]*build{}
	}
}

// goBin finds the go command: in $GOROOT/bin when set, else in PATH.
func goBin() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
