// Command sha256sum hashes files, or generated data for benchmarks.
//
//	sha256sum PATH...      print "<sha256>  <file>" for every file under each PATH
//	sha256sum -gen MIB     hash MIB mebibytes of generated data
//
// The generated data is a fixed 1 MiB pseudo-random block whose first 8
// bytes hold the block's index, repeated MIB times: cheap to make, so the
// run measures hashing.
//
// Build it for the wasm engine with
//
//	GOOS=wasip1 GOARCH=wasm go build -o examples/sha256sum/sha256sum.wasm ./examples/sha256sum
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

func main() {
	gen := flag.Int("gen", 0, "hash `MIB` mebibytes of generated data instead of files")
	flag.Parse()
	if *gen > 0 {
		fmt.Printf("%x  generated:%dMiB\n", generated(*gen), *gen)
		return
	}
	status := 0
	for _, root := range flag.Args() {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			sum, err := hashFile(p)
			if err != nil {
				return err
			}
			fmt.Printf("%x  %s\n", sum, p)
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "sha256sum:", err)
			status = 1
		}
	}
	os.Exit(status)
}

func hashFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func generated(mib int) []byte {
	block := make([]byte, 1<<20)
	x := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < len(block); i += 8 { // xorshift64
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(block[i:], x)
	}
	h := sha256.New()
	for i := range mib {
		binary.LittleEndian.PutUint64(block, uint64(i))
		h.Write(block)
	}
	return h.Sum(nil)
}
