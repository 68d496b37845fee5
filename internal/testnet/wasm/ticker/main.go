// Command ticker is a test job for live logs: it prints "tick N" on stdout
// every interval (first argument, default 200ms) for a duration (second
// argument, default 2s), then "ticker done" on stderr.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	every, total := 200*time.Millisecond, 2*time.Second
	if len(os.Args) > 1 {
		every = parse(os.Args[1])
	}
	if len(os.Args) > 2 {
		total = parse(os.Args[2])
	}
	for i := 0; time.Duration(i)*every < total; i++ {
		fmt.Printf("tick %d\n", i)
		time.Sleep(every)
	}
	fmt.Fprintln(os.Stderr, "ticker done")
}

func parse(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ticker:", err)
		os.Exit(2)
	}
	return d
}
