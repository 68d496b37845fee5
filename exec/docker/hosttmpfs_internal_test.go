package docker

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

// TestCopyTreeHardLinks: a job's hard links are copied as links (counted
// once), never as copies that would multiply its bytes on the host; a
// symlink is copied as a symlink; the budget stops the copy.
func TestCopyTreeHardLinks(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	data := bytes.Repeat([]byte("x"), 3*pageSize)
	if err := os.WriteFile(filepath.Join(src, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(src, "d"), 0o755)
	for i := range 50 {
		if err := os.Link(filepath.Join(src, "f"), filepath.Join(src, "d", "l"+string(rune('a'+i%26))+string(rune('a'+i/26)))); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("/etc/passwd", filepath.Join(src, "s"))
	copyDirs := func(budget int64, dst string) error {
		s, _ := os.OpenRoot(src)
		defer s.Close()
		d, _ := os.OpenRoot(dst)
		defer d.Close()
		return copyTree(s, d, budget)
	}
	if err := copyDirs(4*pageSize, dst); err != nil { // one copy of the data fits; 51 would not
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dst, "d", "laa"))
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Sys().(*syscall.Stat_t).Nlink; n != 51 {
		t.Errorf("copied file has %d links, want 51", n)
	}
	if target, err := os.Readlink(filepath.Join(dst, "s")); err != nil || target != "/etc/passwd" {
		t.Errorf("symlink = %q, %v", target, err)
	}
	// Below the budget, the copy stops (no error: the caller reports the
	// tmpfs's own count).
	small := t.TempDir()
	if err := copyDirs(pageSize, small); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(small, "f")); err == nil {
		t.Error("a file over the budget was copied")
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
97 29 0:45 / /var/work/run\0401/.out.tmpfs-1 rw,nosuid,nodev,noexec,relatime shared:50 - tmpfs shoal-outputs:peer1 rw,size=8192k
98 29 0:46 / /tmp rw - tmpfs tmpfs rw
bad line
`
	got := parseMountinfo([]byte(in))
	want := []tmpfsMount{{"/var/work/run 1/.out.tmpfs-1", "shoal-outputs:peer1"}, {"/tmp", "tmpfs"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountinfo = %q, want %q", got, want)
	}
}
