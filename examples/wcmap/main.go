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
	"strings"
	"unicode"
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
		n, err := countFile(p, counts)
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

func countFile(p string, counts map[string]int) (int, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(bufio.ScanWords)
	n := 0
	for sc.Scan() {
		for _, w := range strings.FieldsFunc(sc.Text(), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			counts[strings.ToLower(w)]++
			n++
		}
	}
	return n, sc.Err()
}

func writeTable(p string, counts map[string]int) error {
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	slices.Sort(words)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, word := range words {
		fmt.Fprintf(w, "%s\t%d\n", word, counts[word])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
