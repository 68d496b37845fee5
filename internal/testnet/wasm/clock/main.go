// Command clock is a test job whose outputs differ from run to run unless
// the engine makes it deterministic: it prints the wall-clock time, the
// time a short sleep took and random bytes to stdout, random bytes to
// stderr, and writes all of it to /outputs/clock. With the argument
// "exit=N" it then exits with code N (a failed run).
package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	start := time.Now()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	time.Sleep(5 * time.Millisecond)
	out := fmt.Sprintf("time %s\nslept %s\nrandom %x\n", start.UTC().Format(time.RFC3339Nano), time.Since(start), b)
	fmt.Print(out)
	_, _ = rand.Read(b)
	fmt.Fprintf(os.Stderr, "stderr random %x\n", b)
	_ = os.WriteFile("/outputs/clock", []byte(out), 0o644)
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "exit="); ok {
			n, _ := strconv.Atoi(v)
			os.Exit(n)
		}
	}
}
