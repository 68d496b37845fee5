// Command sleep is a test job that runs for a while: it sleeps for the
// duration given as its first argument (default 3s), printing a line per
// second, then prints "done" and writes /outputs/done.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	d := 3 * time.Second
	if len(os.Args) > 1 {
		v, err := time.ParseDuration(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "sleep:", err)
			os.Exit(2)
		}
		d = v
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		time.Sleep(min(time.Second, time.Until(end)))
		fmt.Println("tick")
	}
	_ = os.WriteFile("/outputs/done", []byte("done\n"), 0o644)
	fmt.Println("done")
}
