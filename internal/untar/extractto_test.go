package untar

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func hardEntry(name, to string) tarEntry { return tarEntry{name: name, link: to, typ: tar.TypeLink} }

// extractTo runs ExtractTo on a fresh directory dest/out holding the file
// "there" (written before, not by the archive) and returns out.
func extractTo(t *testing.T, o Options, entries ...tarEntry) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "there"), []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(out)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	return out, ExtractTo(root, bytes.NewReader(makeTar(t, entries...)), o)
}

// dockerOptions are those of the Docker engine's outputs.
var dockerOptions = Options{KeepModes: true, HardLinks: true, SkipSpecial: true}

// An archive as the Docker Engine sends a container's directory (names
// under "./", the directory itself first): modes kept, hard links kept as
// links, symlinks created as symlinks, FIFOs and devices skipped.
func TestExtractToDockerArchive(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./run.sh", Typeflag: tar.TypeReg, Mode: 0o4777, Size: 3},
		{Name: "./s", Typeflag: tar.TypeSymlink, Linkname: "run.sh"},
		{Name: "./sub/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./sub/again", Typeflag: tar.TypeLink, Linkname: "./run.sh"},
		{Name: "./sub/third", Typeflag: tar.TypeLink, Linkname: "sub/again"},
		{Name: "./pipe", Typeflag: tar.TypeFifo, Mode: 0o644},
		{Name: "./null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666},
		{Name: "./ro", Typeflag: tar.TypeReg, Mode: 0o400, Size: 3},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("abc"))
		}
	}
	tw.Close()
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(out)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := ExtractTo(root, &buf, dockerOptions); err != nil {
		t.Fatal(err)
	}
	onlyIn(t, out, "run.sh", "s", "sub", "ro")
	onlyIn(t, filepath.Join(out, "sub"), "again", "third")
	st, err := os.Lstat(filepath.Join(out, "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != 0o755 {
		t.Errorf("run.sh mode %v, want -rwxr-xr-x (setuid and group/other write dropped)", st.Mode())
	}
	if st, err := os.Lstat(filepath.Join(out, "ro")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("ro: %v %v, want 0600 (the owner may always read and write)", st.Mode(), err)
	}
	for _, l := range []string{"sub/again", "sub/third"} {
		lst, err := os.Lstat(filepath.Join(out, l))
		if err != nil || !os.SameFile(st, lst) {
			t.Errorf("%s is not a hard link of run.sh: %v", l, err)
		}
	}
	if st.Sys().(*syscall.Stat_t).Nlink != 3 {
		t.Errorf("run.sh has %d links, want 3", st.Sys().(*syscall.Stat_t).Nlink)
	}
	if target, err := os.Readlink(filepath.Join(out, "s")); err != nil || target != "run.sh" {
		t.Errorf("symlink s -> %q, %v", target, err)
	}
}

// The zero Options are Extract's: files 0644, no hard links, no FIFOs.
func TestExtractToDefaults(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	out := t.TempDir()
	root, err := os.OpenRoot(out)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := ExtractTo(root, &buf, Options{}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(out, "x")); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("x: %v %v, want 0644", st.Mode(), err)
	}
	if _, err := extractTo(t, Options{}, fileEntry("a", "a"), hardEntry("b", "a")); err == nil || !strings.Contains(err.Error(), "hard link") {
		t.Fatalf("a hard link without HardLinks: %v", err)
	}
	if _, err := extractTo(t, Options{}, tarEntry{name: "p", typ: tar.TypeFifo}); err == nil || !strings.Contains(err.Error(), "unsupported type") {
		t.Fatalf("a FIFO without SkipSpecial: %v", err)
	}
}

// MaxBytes counts regular files in BlockSize units; the file that passes
// it is not written and the error matches ErrTooLarge. Hard links count
// nothing.
func TestExtractToBudget(t *testing.T) {
	o := dockerOptions
	o.MaxBytes, o.BlockSize = 8192, 4096
	big := strings.Repeat("x", 4096)
	// Two pages exactly: within.
	out, err := extractTo(t, o, fileEntry("a", "1"), fileEntry("b", big), hardEntry("c", "b"), hardEntry("d", "a"))
	if err != nil {
		t.Fatalf("two pages of files and two links, budget two pages: %v", err)
	}
	onlyIn(t, out, "there", "a", "b", "c", "d")
	// One byte more is a third page.
	out, err = extractTo(t, o, fileEntry("a", "1"), fileEntry("b", big), fileEntry("c", "1"), fileEntry("d", "never"))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("three pages, budget two: %v, want ErrTooLarge", err)
	}
	onlyIn(t, out, "there", "a", "b")
	// Without BlockSize, bytes.
	o.BlockSize = 0
	o.MaxBytes = 2
	if _, err := extractTo(t, o, fileEntry("a", "1"), fileEntry("b", "1")); err != nil {
		t.Fatalf("two bytes, budget two: %v", err)
	}
	if _, err := extractTo(t, o, fileEntry("a", "1"), fileEntry("b", "12")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("three bytes, budget two: %v", err)
	}
}

// What ExtractTo refuses, each with an error, never writing outside the
// destination nor changing the file that was there before.
func TestExtractToRefuses(t *testing.T) {
	base := t.TempDir()
	v := newVictim(t, filepath.Join(base, "victim"))
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"hard link to a file that was there", []tarEntry{hardEntry("x", "there")}, "not a regular file the archive wrote"},
		{"hard link outside", []tarEntry{hardEntry("x", "../victim/bashrc")}, "bad path component"},
		{"hard link absolute", []tarEntry{hardEntry("x", v.file)}, "absolute path"},
		{"hard link to a symlink", []tarEntry{linkEntry("s", v.file), hardEntry("x", "s")}, "not a regular file the archive wrote"},
		{"hard link to a directory", []tarEntry{dirEntry("d/"), hardEntry("x", "d")}, "not a regular file the archive wrote"},
		{"hard link before its target", []tarEntry{hardEntry("x", "a"), fileEntry("a", "a")}, "not a regular file the archive wrote"},
		{"hard link over a file", []tarEntry{fileEntry("a", "a"), hardEntry("there", "a")}, "file exists"},
		{"file over a file that was there", []tarEntry{fileEntry("there", "after")}, "file exists"},
		{"file through a symlink", []tarEntry{linkEntry("s", filepath.Join(base, "victim")), fileEntry("s/bashrc", "pwned")}, "under the symlink"},
		{"parent directory", []tarEntry{fileEntry("../victim/new", "x")}, "bad path component"},
		{"dot-dot inside", []tarEntry{dirEntry("./d/"), fileEntry("./d/../../victim/x", "x")}, "bad path component"},
		{"absolute", []tarEntry{fileEntry(filepath.Join(v.dir, "x"), "x")}, "absolute path"},
		{"the root as a file", []tarEntry{fileEntry(".", "x")}, "destination itself"},
		{"a name twice", []tarEntry{fileEntry("a", "1"), fileEntry("./a", "2")}, "appears twice"},
		{"before its directory", []tarEntry{fileEntry("d/a", "1")}, "before its directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := extractTo(t, dockerOptions, tc.entries...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ExtractTo = %v, want an error containing %q", err, tc.want)
			}
			if b, rerr := os.ReadFile(filepath.Join(out, "there")); rerr != nil || string(b) != "before" {
				t.Fatalf("the file that was there changed: %q, %v", b, rerr)
			}
			v.untouched(t)
		})
	}
}
