// Command workerprog is a wasm worker process for the tests of exec/wasm
// that need one built without the race detector (whose shadow memory an
// address space limit cannot hold). The shoal binary's own worker is
// `shoal __wasm-worker`.
package main

import (
	"fmt"
	"os"

	"github.com/shoalnet/shoal/exec/wasm"
)

func main() {
	if err := wasm.ServeWorker(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wasm worker:", err)
		os.Exit(1)
	}
}
