// Command hello is the smallest Shoal job: it greets whoever its arguments
// name. Build it for the wasm engine with
//
//	GOOS=wasip1 GOARCH=wasm go build -o examples/hello/hello.wasm ./examples/hello
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	who := "world"
	if len(os.Args) > 1 {
		who = strings.Join(os.Args[1:], " ")
	}
	fmt.Printf("hello, %s, from shoal\n", who)
}
