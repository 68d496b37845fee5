package wasm_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/wasm"
)

// helloModule builds examples/hello for wasip1 (examples/build.sh does the
// same into examples/hello/hello.wasm).
func helloModule() string {
	p, err := testprog.BuildErr("github.com/shoalnet/shoal/examples/hello", "wasip1", "wasm")
	if err != nil {
		log.Fatal(err)
	}
	return p
}

func Example() {
	ctx := context.Background()
	x, err := wasm.New(ctx, wasm.WithCacheDir(cacheDir)) // the node passes $REPO/wasm-cache
	if err != nil {
		log.Fatal(err)
	}
	defer x.Close()

	res, err := x.Run(ctx, &exec.Task{
		ID:      "hello-1",
		WASM:    &exec.WASMSpec{ModulePath: helloModule()},
		Args:    []string{"reader"},
		Limits:  exec.Limits{MemoryBytes: 64 << 20},
		Timeout: 10 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d: %s", res.ExitCode, res.Stdout)
	// Output: exit 0: hello, reader, from shoal
}
