package testnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	wasmMu    sync.Mutex
	wasmBuilt = map[string]string{}
)

// WasmModule builds the Go program pkg (an import path inside this module,
// e.g. "examples/hello") for GOOS=wasip1 once per test process and returns
// the path of the .wasm file.
func WasmModule(t testing.TB, pkg string) string {
	t.Helper()
	wasmMu.Lock()
	defer wasmMu.Unlock()
	if p, ok := wasmBuilt[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "shoal-wasm-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "_")+".wasm")
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(fmt.Errorf("build %s for wasip1: %v\n%s", pkg, err, b))
	}
	wasmBuilt[pkg] = out
	return out
}
