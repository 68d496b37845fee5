// Command wordcount counts the words of every file under an input
// directory, writes the counts to a file and prints a summary.
//
//	wordcount [INPUT_DIR [OUTPUT_FILE]]
//
// INPUT_DIR defaults to $WORDCOUNT_INPUT, else /inputs; OUTPUT_FILE to
// $WORDCOUNT_OUTPUT, else /outputs/counts.txt. The counts file has one
// "count word" line per distinct word, most frequent first. Words are
// maximal runs of letters and digits, lower-cased.
//
// Build it for the wasm engine with
//
//	GOOS=wasip1 GOARCH=wasm go build -o examples/wordcount/wordcount.wasm ./examples/wordcount
package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/shoalnet/shoal/examples/internal/wordfile"
)

func main() {
	in := arg(1, "WORDCOUNT_INPUT", "/inputs")
	out := arg(2, "WORDCOUNT_OUTPUT", "/outputs/counts.txt")
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
	if err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
	if err := writeCounts(out, counts); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
	fmt.Printf("%d files, %d words, %d distinct; counts in %s\n", files, words, len(counts), out)
}

func arg(i int, env, def string) string {
	if len(os.Args) > i {
		return os.Args[i]
	}
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

func writeCounts(p string, counts map[string]int) error {
	list := make([]string, 0, len(counts))
	for w := range counts {
		list = append(list, w)
	}
	slices.SortFunc(list, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	return wordfile.WriteFile(p, func(w *bufio.Writer) {
		for _, word := range list {
			fmt.Fprintf(w, "%d %s\n", counts[word], word)
		}
	})
}
