// Command secretlen is a test job for secrets: for each environment
// variable named in its arguments it prints "NAME has N bytes" (the length,
// never the value) and writes the same line to /outputs/NAME.len.
package main

import (
	"fmt"
	"os"
)

func main() {
	for _, name := range os.Args[1:] {
		v, ok := os.LookupEnv(name)
		if !ok {
			fmt.Printf("%s is not set\n", name)
			continue
		}
		line := fmt.Sprintf("%s has %d bytes\n", name, len(v))
		fmt.Print(line)
		_ = os.WriteFile("/outputs/"+name+".len", []byte(line), 0o644)
	}
}
