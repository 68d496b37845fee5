// Command shard is a test task for partitioned jobs: it writes
// /outputs/info.txt with its partition environment (SHOAL_PARTITION_INDEX,
// SHOAL_PARTITION_COUNT, SHOAL_JOB_ID) and the files it sees under /inputs
// with their sizes, and prints the same line. With an argument fail=I it
// exits with code 3 when its index is I (a failing task); with sleep=D it
// first sleeps for D (a Go duration; with reuse: never, where the module
// sees the host's clock).
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "sleep="); ok {
			if d, err := time.ParseDuration(v); err == nil {
				time.Sleep(d)
			}
		}
	}
	idx := os.Getenv("SHOAL_PARTITION_INDEX")
	var files []string
	_ = filepath.WalkDir("/inputs", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				files = append(files, fmt.Sprintf("%s:%d", p, info.Size()))
			}
		}
		return nil
	})
	sort.Strings(files)
	line := fmt.Sprintf("index=%s count=%s job=%s files=%s\n", idx, os.Getenv("SHOAL_PARTITION_COUNT"), os.Getenv("SHOAL_JOB_ID"), strings.Join(files, ","))
	fmt.Print(line)
	if err := os.WriteFile("/outputs/info.txt", []byte(line), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, a := range os.Args[1:] {
		if a == "fail="+idx {
			fmt.Fprintln(os.Stderr, "failing on purpose")
			os.Exit(3)
		}
	}
}
