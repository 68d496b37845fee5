// Command flood is a test job that floods its stdout: it writes MiB
// (first argument, default 100) of numbered 64-byte lines as fast as it
// can, then "flood done" on stderr.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

func main() {
	mib := 100
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "flood:", err)
			os.Exit(2)
		}
		mib = n
	}
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	for i := range mib << 20 / 64 {
		fmt.Fprintf(w, "flood line %052d\n", i) // 64 bytes
	}
	w.Flush()
	fmt.Fprintln(os.Stderr, "flood done")
}
