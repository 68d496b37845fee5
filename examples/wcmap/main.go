// Command wcmap is the map step of the word-count workflow: it counts the
// words of every file under its input directory and writes one count table.
//
//	wcmap [INPUT_DIR [OUTPUT_FILE]]
//
// INPUT_DIR defaults to /inputs, OUTPUT_FILE to /outputs/counts.tsv. The
// table has one "word<TAB>count" line per distinct word, sorted by word, so
// the same input always gives the same bytes (and the same CID). Words are
// maximal runs of letters and digits, lower-cased. examples/wcreduce merges
// such tables.
//
// Build it for the wasm engine with
//
//	GOOS=wasip1 GOARCH=wasm go build -o examples/wcmap/wcmap.wasm ./examples/wcmap
package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/shoalnet/shoal/examples/internal/wordfile"
)

func main() {
	in, out := "/inputs", "/outputs/counts.tsv"
	if len(os.Args) > 1 {
		in = os.Args[1]
	}
	if len(os.Args) > 2 {
		out = os.Args[2]
	}
	counts := map[string]int{}
	files, words := 0, 0
	err := filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		n, err := wordfile.CountFile(p, counts)
		files++
		words += n
		return err
	})
	if err == nil {
		err = writeTable(out, counts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wcmap:", err)
		os.Exit(1)
	}
	fmt.Printf("%d files, %d words, %d distinct\n", files, words, len(counts))
}

func writeTable(p string, counts map[string]int) error {
	list := make([]string, 0, len(counts))
	for w := range counts {
		list = append(list, w)
	}
	slices.Sort(list)
	return wordfile.WriteFile(p, func(w *bufio.Writer) {
		for _, word := range list {
			fmt.Fprintf(w, "%s\t%d\n", word, counts[word])
		}
	})
}
