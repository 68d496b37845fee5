package untar

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// resumeArchive is out/ with big (1 MiB), sub/ and sub/small.
func resumeArchive(t *testing.T) ([]byte, map[string][]byte) {
	t.Helper()
	files := map[string][]byte{"out/big": bytes.Repeat([]byte("0123456789abcdef"), 1<<16), "out/sub/small": []byte("small file\n")}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, data []byte) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "out/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "out/big", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files["out/big"]))}, files["out/big"])
	add(&tar.Header{Name: "out/sub/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "out/sub/small", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files["out/sub/small"]))}, files["out/sub/small"])
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), files
}

// failAfter reads n bytes of r, then fails.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection lost")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// An extraction cut off in the middle of the second file leaves the first
// in the partial directory; running again keeps that file (the same inode,
// not rewritten), writes the rest, and the result is whole.
func TestExtractResume(t *testing.T) {
	arc, files := resumeArchive(t)
	dest := filepath.Join(t.TempDir(), "results")
	const id = "bafyexample"
	// Five bytes into out/sub/small's data: four headers and big's data
	// before it.
	cut := 4*512 + len(files["out/big"]) + 5
	_, err := ExtractResume(&failAfter{r: bytes.NewReader(arc), n: cut}, dest, "out", id)
	if err == nil {
		t.Fatal("an archive cut short extracted without error")
	}
	if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dest exists after an interrupted run: %v", err)
	}
	big := filepath.Join(PartialDir(dest, id), "out", "big")
	before, err := os.Stat(big)
	if err != nil || before.Size() != int64(len(files["out/big"])) {
		t.Fatalf("the complete file is not kept in the partial directory: %v", err)
	}
	kept, err := ExtractResume(bytes.NewReader(arc), dest, "out", id)
	if err != nil {
		t.Fatal(err)
	}
	if kept.Files != 1 || kept.Bytes != int64(len(files["out/big"])) {
		t.Fatalf("kept %+v, want the one complete file", kept)
	}
	after, err := os.Stat(filepath.Join(dest, "big"))
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the complete file was written again: %v", err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dest, name[len("out/"):]))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := os.Lstat(PartialDir(dest, id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the partial directory is left after success: %v", err)
	}
}

// What an earlier run left that the archive would not write is replaced:
// a file cut short is written again, and a symlink where the archive has a
// directory is removed, never followed.
func TestExtractResumeReplacesWhatIsWrong(t *testing.T) {
	arc, files := resumeArchive(t)
	parent := t.TempDir()
	dest := filepath.Join(parent, "results")
	victim := filepath.Join(parent, "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	partial := PartialDir(dest, "id1")
	if err := os.MkdirAll(filepath.Join(partial, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "out", "big"), []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(partial, "out", "sub")); err != nil {
		t.Fatal(err)
	}
	kept, err := ExtractResume(bytes.NewReader(arc), dest, "out", "id1")
	if err != nil {
		t.Fatal(err)
	}
	if kept.Files != 0 {
		t.Fatalf("kept %+v, want nothing", kept)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dest, name[len("out/"):]))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Fatal("resume wrote through the symlink an earlier run left")
	}
	if st, err := os.Lstat(filepath.Join(dest, "sub")); err != nil || !st.IsDir() {
		t.Fatalf("sub is not a directory: %v", err)
	}
}
