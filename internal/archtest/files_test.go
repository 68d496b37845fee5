package archtest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maxTrackedSize is the largest file the repository tracks outside a
// testdata/ directory: a build output, a profile or a data dump committed
// by mistake is larger (a 69 MB binary was, in commit 301c505).
const maxTrackedSize = 1 << 20

// TestNoLargeTrackedFiles fails naming every file git tracks that is over
// maxTrackedSize bytes and not under a testdata/ directory.
func TestNoLargeTrackedFiles(t *testing.T) {
	root := moduleRoot(t)
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skipf("git is not on $PATH (%v): tracked file sizes not checked", err)
	}
	// .git is a directory in a clone and a file in a worktree; a source
	// tarball has neither.
	if _, err := os.Stat(filepath.Join(root, ".git")); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is not a git checkout (no .git, as in a source tarball): tracked file sizes not checked", root)
	}
	cmd := exec.Command(git, "ls-files", "-z")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v\n%s", root, err, stderr.Bytes())
	}
	files := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(files) < 10 {
		t.Fatalf("git ls-files listed %d files: not this repository?", len(files))
	}
	for _, name := range files {
		if isFixture(name) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree, not yet in the index
		} else if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().IsRegular() && fi.Size() > maxTrackedSize {
			t.Errorf("%s is tracked and %d bytes (limit %d outside testdata/): if it is a build output, `git rm --cached` it and add it to .gitignore; if it is a test fixture, move it under testdata/",
				name, fi.Size(), maxTrackedSize)
		}
	}
}

// isFixture reports whether a tracked path (slash-separated) lies under a
// testdata/ directory.
func isFixture(name string) bool {
	return slices.Contains(strings.Split(name, "/")[:strings.Count(name, "/")], "testdata")
}

func TestIsFixture(t *testing.T) {
	for name, want := range map[string]bool{
		"bidding/jobspec/testdata/full.yaml": true,
		"testdata/big.bin":                   true,
		"testdata":                           false,
		"shoal":                              false,
		"cmd/shoal/testdata.go":              false,
		"mytestdata/x":                       false,
	} {
		if got := isFixture(name); got != want {
			t.Errorf("isFixture(%q) = %v, want %v", name, got, want)
		}
	}
}
