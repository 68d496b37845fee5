package market

import (
	"os"
	"path/filepath"
	"testing"
)

// A run directory comes back for reuse only as it was handed out (empty,
// or an empty outputs directory); anything a run left in it, or changed
// about it, gets it removed instead.
func TestWorkDirsReuseOnlyUntouched(t *testing.T) {
	for _, c := range []struct {
		name  string
		run   func(t *testing.T, dir string) // what the run did
		reuse bool
	}{
		{"nothing", func(t *testing.T, dir string) {}, true},
		{"empty outputs (wasm)", func(t *testing.T, dir string) { mkdir(t, filepath.Join(dir, "outputs"), 0o755) }, true},
		{"empty outputs (publish)", func(t *testing.T, dir string) { mkdir(t, filepath.Join(dir, "outputs"), 0o700) }, true},
		{"an output file", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "outputs"), 0o755)
			write(t, filepath.Join(dir, "outputs", "result"))
		}, false},
		{"inputs", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "inputs"), 0o700)
		}, false},
		{"outputs and a file beside", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "outputs"), 0o755)
			write(t, filepath.Join(dir, "x"))
		}, false},
		{"outputs made world-writable", func(t *testing.T, dir string) { mkdir(t, filepath.Join(dir, "outputs"), 0o777) }, false},
		{"outputs a symlink", func(t *testing.T, dir string) {
			if err := os.Symlink(t.TempDir(), filepath.Join(dir, "outputs")); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"outputs a file", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "outputs")) }, false},
		{"run dir mode changed", func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := &workDirs{root: t.TempDir()}
			dir, err := w.take()
			if err != nil {
				t.Fatal(err)
			}
			c.run(t, dir)
			w.give(dir)
			_, err = os.Lstat(dir)
			if kept := err == nil; kept != c.reuse {
				t.Fatalf("directory kept: %v, want %v", kept, c.reuse)
			}
			again, err := w.take()
			if err != nil {
				t.Fatal(err)
			}
			if (again == dir) != c.reuse {
				t.Fatalf("second take %s, first %s: reused %v, want %v", again, dir, again == dir, c.reuse)
			}
			if entries, err := os.ReadDir(again); err != nil || (len(entries) > 0 && entries[0].Name() != "outputs") {
				t.Fatalf("second take holds %v (%v)", entries, err)
			}
		})
	}
}

// At most maxFreeWorkDirs are kept; close removes them, and a directory
// given back after close is removed.
func TestWorkDirsBoundAndClose(t *testing.T) {
	w := &workDirs{root: t.TempDir()}
	var dirs []string
	for range maxFreeWorkDirs + 3 {
		d, err := w.take()
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		w.give(d)
	}
	if entries, _ := os.ReadDir(w.root); len(entries) != maxFreeWorkDirs {
		t.Fatalf("%d directories kept, want %d", len(entries), maxFreeWorkDirs)
	}
	last, _ := w.take()
	w.close()
	w.give(last)
	if entries, _ := os.ReadDir(w.root); len(entries) != 0 {
		t.Fatalf("%d directories left after close", len(entries))
	}
}

func mkdir(t *testing.T, p string, perm os.FileMode) {
	t.Helper()
	if err := os.Mkdir(p, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // past the umask
		t.Fatal(err)
	}
}

func write(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}
