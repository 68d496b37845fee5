// Command detprog prints what differs between runs unless the engine makes
// them deterministic: the time, random numbers, a sleep's duration and map
// order.
package main

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"time"
)

func main() {
	start := time.Now()
	fmt.Println("time", start.UTC().Format(time.RFC3339Nano))
	b := make([]byte, 8)
	rand.Read(b)
	fmt.Printf("crypto/rand %x\n", b)
	fmt.Println("math/rand", mrand.Uint64())
	time.Sleep(10 * time.Millisecond)
	fmt.Println("slept", time.Since(start))
	m := map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true}
	for k := range m {
		fmt.Print(k, " ")
	}
	fmt.Println()
}
