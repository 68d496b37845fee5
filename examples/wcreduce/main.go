// Command wcreduce is the reduce step of the word-count workflow: it merges
// the count tables (examples/wcmap) found under its input directory and
// writes the merged table and the top words.
//
//	wcreduce [INPUT...]
//
// Each INPUT (default /inputs) is a count table or a directory walked for
// them: files whose lines are "word<TAB>count". (A wasm job sees each
// directory input as its own mount: list them, e.g. /inputs/a /inputs/b;
// file inputs under one directory share it.) $WCREDUCE_OUTPUT (default
// /outputs) receives counts.tsv
// (the merged table, sorted by word) and top.txt (the $WCREDUCE_TOP most
// frequent words, default 10, as "count word" lines, most frequent first,
// ties by word), which it also prints. A malformed line is an error naming
// the file and line.
//
// Build it for the wasm engine with
//
//	GOOS=wasip1 GOARCH=wasm go build -o examples/wcreduce/wcreduce.wasm ./examples/wcreduce
package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	ins, out := os.Args[1:], "/outputs"
	if len(ins) == 0 {
		ins = []string{"/inputs"}
	}
	if v := os.Getenv("WCREDUCE_OUTPUT"); v != "" {
		out = v
	}
	top := 10
	if v := os.Getenv("WCREDUCE_TOP"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(fmt.Errorf("WCREDUCE_TOP=%q: want a number above 0", v))
		}
		top = n
	}
	counts := map[string]int{}
	tables := 0
	for _, in := range ins {
		err := filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			tables++
			return merge(p, counts)
		})
		if err != nil {
			fail(err)
		}
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	slices.Sort(words)
	var table strings.Builder
	for _, w := range words {
		fmt.Fprintf(&table, "%s\t%d\n", w, counts[w])
	}
	slices.SortStableFunc(words, func(a, b string) int { return cmp.Compare(counts[b], counts[a]) })
	var best strings.Builder
	for _, w := range words[:min(top, len(words))] {
		fmt.Fprintf(&best, "%d %s\n", counts[w], w)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(out, "counts.tsv"), []byte(table.String()), 0o644); err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(out, "top.txt"), []byte(best.String()), 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("%d tables, %d distinct words; top %d:\n%s", tables, len(counts), min(top, len(words)), best.String())
}

func merge(p string, counts map[string]int) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		word, n, ok := strings.Cut(sc.Text(), "\t")
		c, err := strconv.Atoi(n)
		if !ok || word == "" || err != nil || c < 0 {
			return fmt.Errorf("%s:%d: %q is not a \"word<TAB>count\" line", p, line, sc.Text())
		}
		counts[word] += c
	}
	return sc.Err()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wcreduce:", err)
	os.Exit(1)
}
