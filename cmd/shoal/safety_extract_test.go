package main

import (
	"archive/tar"
	"bytes"
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
// itself, through a name that is fine as text: extractTar refuses it with a
// clear error and changes nothing outside the destination, which it does
// not create.
func TestExtractTarRefusesHostileArchives(t *testing.T) {
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
			dirEntry("out"), fileEntry(v.dir + "/pwned.txt", "pwned"),
		}, "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := filepath.Join(base, "work-"+strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.MkdirAll(work, 0o755); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(work, "dest")
			err := extractTar(bytes.NewReader(makeTar(t, tc.entries...)), dest, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("extractTar: %v, want an error saying %q", err, tc.want)
			}
			v.untouched(t)
			onlyIn(t, work) // no dest, no temporary directory left
		})
	}
}

// An ordinary archive still extracts whole, symlinks kept as symlinks with
// their targets as stored (absolute ones too: they are never followed).
func TestExtractTarKeepsTreesAndSymlinks(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "dest")
	archive := makeTar(t,
		dirEntry("out/"), dirEntry("out/a"), fileEntry("out/a/one.txt", "one"),
		linkEntry("out/rel", "a/one.txt"), linkEntry("out/abs", "/etc/passwd"), dirEntry("out/empty"))
	if err := extractTar(bytes.NewReader(archive), dest, false); err != nil {
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
