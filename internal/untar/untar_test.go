package untar

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tarEntry is one entry of a hand-made archive.
type tarEntry struct {
	name, link, body string
	typ              byte
}

func dirEntry(name string) tarEntry        { return tarEntry{name: name, typ: tar.TypeDir} }
func fileEntry(name, body string) tarEntry { return tarEntry{name: name, body: body, typ: tar.TypeReg} }
func linkEntry(name, to string) tarEntry   { return tarEntry{name: name, link: to, typ: tar.TypeSymlink} }

func makeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// victim is a directory and a file outside the extraction's destination,
// which no archive may change.
type victim struct {
	dir, file string
}

const victimText = "the victim's own bytes\n"

func newVictim(t testing.TB, dir string) victim {
	t.Helper()
	v := victim{dir: dir, file: filepath.Join(dir, "bashrc")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v.file, []byte(victimText), 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

// untouched fails the test if the victim directory holds anything but its
// file, or the file changed.
func (v victim) untouched(t testing.TB) {
	t.Helper()
	ents, err := os.ReadDir(v.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "bashrc" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("victim directory %s now holds %v, want only bashrc", v.dir, names)
	}
	if b, err := os.ReadFile(v.file); err != nil || string(b) != victimText {
		t.Fatalf("victim file %s changed: %q, %v", v.file, b, err)
	}
}

// onlyIn fails the test unless dir holds exactly the names want.
func onlyIn(t testing.TB, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s holds %v, want %v", dir, got, want)
	}
}

// Each archive would write outside the destination, or over what it wrote
// itself, through a name that is fine as text: Extract refuses it with a
// clear error and changes nothing outside the destination, which it does
// not create.
func TestExtractRefusesHostileArchives(t *testing.T) {
	base := t.TempDir()
	v := newVictim(t, filepath.Join(base, "victim"))
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		want    string // in the error
	}{
		{"file under a symlink to a directory", []tarEntry{
			dirEntry("out"), linkEntry("out/a", v.dir), fileEntry("out/a/pwned.txt", "pwned"),
		}, "under the symlink"},
		{"symlink, then a directory of the same name", []tarEntry{
			dirEntry("out"), linkEntry("out/a", v.dir), dirEntry("out/a"), fileEntry("out/a/pwned.txt", "pwned"),
		}, "appears twice"},
		{"symlink, then a file of the same name", []tarEntry{
			dirEntry("out"), linkEntry("out/f", v.file), fileEntry("out/f", "pwned"),
		}, "appears twice"},
		{"file twice", []tarEntry{
			dirEntry("out"), fileEntry("out/f", "one"), fileEntry("out/f", "two"),
		}, "appears twice"},
		{"dot-dot back under a symlink", []tarEntry{
			dirEntry("out"), linkEntry("out/a", v.dir), dirEntry("out/b"), fileEntry("out/b/../a/pwned.txt", "pwned"),
		}, `".." names a directory`},
		{"dot component", []tarEntry{
			dirEntry("out"), linkEntry("out/a", v.dir), fileEntry("out/./a/pwned.txt", "pwned"),
		}, `"." names a directory`},
		{"empty component", []tarEntry{
			dirEntry("out"), linkEntry("out/a", v.dir), fileEntry("out//a/pwned.txt", "pwned"),
		}, "empty"},
		{"relative symlink out of the destination", []tarEntry{
			dirEntry("out"), linkEntry("out/up", "../../victim"), fileEntry("out/up/pwned.txt", "pwned"),
		}, "under the symlink"},
		{"symlink as the top, then an entry below it", []tarEntry{
			linkEntry("out", v.dir), fileEntry("out/pwned.txt", "pwned"),
		}, "under the symlink"},
		{"entry below a file", []tarEntry{
			dirEntry("out"), fileEntry("out/f", "x"), fileEntry("out/f/g", "y"),
		}, "not a directory"},
		{"entry before its directory", []tarEntry{
			dirEntry("out"), fileEntry("out/new/pwned.txt", "pwned"),
		}, "before its directory"},
		{"absolute path", []tarEntry{
			dirEntry("out"), fileEntry(v.dir+"/pwned.txt", "pwned"),
		}, "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := filepath.Join(base, "work-"+strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.MkdirAll(work, 0o755); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(work, "dest")
			err := Extract(bytes.NewReader(makeTar(t, tc.entries...)), dest, "out", false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Extract: %v, want an error saying %q", err, tc.want)
			}
			v.untouched(t)
			onlyIn(t, work) // no dest, no temporary directory left
		})
	}
}

// sparseTar is an archive of one PAX (GNU 1.0) sparse file, "out/huge",
// that claims 2^60 bytes of holes in 1.5 KiB; archive/tar's writer cannot
// make one, so the blocks are written here by hand.
func sparseTar() []byte {
	header := func(name string, typ byte, size int) []byte {
		h := make([]byte, 512)
		copy(h, name)
		copy(h[100:], "0000644\x00")
		copy(h[108:], "0000000\x00")
		copy(h[116:], "0000000\x00")
		copy(h[124:], fmt.Sprintf("%011o\x00", size))
		copy(h[136:], "00000000000\x00")
		copy(h[148:], "        ")
		h[156] = typ
		copy(h[257:], "ustar\x0000")
		sum := 0
		for _, b := range h {
			sum += int(b)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		return h
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	var pax []byte
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"},
		{"GNU.sparse.name", "out/huge"}, {"GNU.sparse.realsize", "1152921504606846976"}} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec)
		for len(fmt.Sprint(n)+rec) != n {
			n = len(fmt.Sprint(n) + rec)
		}
		pax = append(pax, fmt.Sprint(n)+rec...)
	}
	sparseMap := pad([]byte("1\n0\n0\n")) // one data region: offset 0, 0 bytes
	var out []byte
	out = append(out, header("out", tar.TypeDir, 0)...)
	out = append(out, header("PaxHeaders/huge", tar.TypeXHeader, len(pax))...)
	out = append(out, pad(pax)...)
	out = append(out, header("out/huge", tar.TypeReg, len(sparseMap))...)
	out = append(out, sparseMap...)
	return append(out, make([]byte, 1024)...)
}

// A sparse entry could fill the disk from a tiny archive: refused.
func TestExtractRefusesSparseFiles(t *testing.T) {
	// The archive is what it claims (extracting it without the check would
	// write 2^60 zero bytes, so that is not how this is verified).
	tr := tar.NewReader(bytes.NewReader(sparseTar()))
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	if h, err := tr.Next(); err != nil || h.Size != 1<<60 {
		t.Fatalf("sparse entry: %+v %v, want a %d-byte file", h, err, int64(1<<60))
	}
	work := t.TempDir()
	err := Extract(bytes.NewReader(sparseTar()), filepath.Join(work, "dest"), "out", false)
	if err == nil || !strings.Contains(err.Error(), "sparse") {
		t.Fatalf("Extract of a sparse file: %v, want a refusal", err)
	}
	onlyIn(t, work)
}

// An ordinary archive still extracts whole, symlinks kept as symlinks with
// their targets as stored (absolute ones too: they are never followed).
func TestExtractKeepsTreesAndSymlinks(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "dest")
	archive := makeTar(t,
		dirEntry("out/"), dirEntry("out/a"), fileEntry("out/a/one.txt", "one"),
		linkEntry("out/rel", "a/one.txt"), linkEntry("out/abs", "/etc/passwd"), dirEntry("out/empty"))
	if err := Extract(bytes.NewReader(archive), dest, "out", false); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "a/one.txt")); err != nil || string(b) != "one" {
		t.Fatalf("a/one.txt: %q %v", b, err)
	}
	for link, target := range map[string]string{"rel": "a/one.txt", "abs": "/etc/passwd"} {
		if got, err := os.Readlink(filepath.Join(dest, link)); err != nil || got != target {
			t.Fatalf("%s -> %q %v, want -> %q", link, got, err, target)
		}
	}
	onlyIn(t, dest, "a", "abs", "empty", "rel")
}

// FuzzExtract feeds Extract arbitrary archives. Whatever they hold,
// the destination's parent ends up holding the victim directory and at most
// the destination itself, the victim is unchanged, and nothing panics. The
// seeds' symlinks point at the victim both by absolute path and by the
// relative path "../../victim", which leaves the temporary directory.
func FuzzExtract(f *testing.F) {
	abs := "/tmp/shoal-fuzz-victim-does-not-exist"
	for _, entries := range [][]tarEntry{
		{dirEntry("out"), fileEntry("out/a.txt", "a")},
		{fileEntry("out", "just a file")},
		{dirEntry("out"), linkEntry("out/a", "../../victim"), fileEntry("out/a/pwned.txt", "pwned")},
		{dirEntry("out"), linkEntry("out/a", "../victim"), dirEntry("out/a"), fileEntry("out/a/bashrc", "pwned")},
		{dirEntry("out"), linkEntry("out/f", "../../victim/bashrc"), fileEntry("out/f", "pwned")},
		{dirEntry("out"), linkEntry("out/a", abs), fileEntry("out/a/pwned.txt", "pwned")},
		{dirEntry("out"), dirEntry("out/b"), fileEntry("out/b/../../victim/bashrc", "pwned")},
		{linkEntry("out", "../victim"), fileEntry("out/bashrc", "pwned")},
	} {
		f.Add(makeTar(f, entries...))
	}
	f.Fuzz(func(t *testing.T, archive []byte) {
		base := t.TempDir()
		v := newVictim(t, filepath.Join(base, "work", "victim"))
		work := filepath.Join(base, "work")
		dest := filepath.Join(work, "dest")
		err := Extract(bytes.NewReader(archive), dest, "out", false)
		v.untouched(t)
		if err != nil {
			onlyIn(t, work, "victim")
		} else {
			onlyIn(t, work, "victim", "dest")
		}
		onlyIn(t, base, "work")
	})
}
