// Package wordfile is what the word-counting examples (wordcount, wcmap)
// share: the count of one file's words and the writing of a table.
package wordfile

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// CountFile adds the words of the file at p to counts (lower-cased runs of
// letters and digits) and returns how many it read.
func CountFile(p string, counts map[string]int) (int, error) {
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

// WriteFile creates the file at p (and its directory) with what write
// writes to it, buffered.
func WriteFile(p string, write func(w *bufio.Writer)) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	write(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
