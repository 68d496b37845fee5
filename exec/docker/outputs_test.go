package docker_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shoalnet/shoal/exec/docker"
)

// TestOutputsTree: a job's outputs tree reaches OutputsDir whole through
// both ways of holding it (a host tmpfs, a volume and its keeper, whose
// archive internal/untar extracts): nested directories, an executable
// file with its mode, hard links as links (4 copies of 512 KiB would pass
// the 1 MiB disk limit) and a symlink as a symlink.
func TestOutputsTree(t *testing.T) {
	requireDocker(t)
	for _, c := range []struct {
		name string
		opts []docker.Option
	}{{"host tmpfs", nil}, {"keeper", []docker.Option{docker.WithOutputsVolume()}}} {
		t.Run(c.name, func(t *testing.T) {
			if c.opts == nil {
				requireMount(t)
			}
			x := newExecutor(t, c.opts...)
			tk := progTask("tree-"+randomHex(4), "tree", "/outputs")
			tk.Limits.DiskBytes = 1 << 20
			tk.OutputsDir = filepath.Join(t.TempDir(), "out")
			res, err := x.Run(context.Background(), tk)
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("Run = %+v, %v (stderr %s)", res, err, res.Stderr)
			}
			out := tk.OutputsDir
			st, err := os.Lstat(filepath.Join(out, "run.sh"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != 0o755 || st.Size() != 512<<10 {
				t.Errorf("run.sh: mode %v size %d, want -rwxr-xr-x and 512 KiB", st.Mode(), st.Size())
			}
			for _, l := range []string{"l0", "l1", "l2", "l3"} {
				lst, err := os.Lstat(filepath.Join(out, "sub", l))
				if err != nil || !os.SameFile(st, lst) {
					t.Errorf("sub/%s is not a hard link of run.sh: %v", l, err)
				}
			}
			if n := st.Sys().(*syscall.Stat_t).Nlink; n != 5 {
				t.Errorf("run.sh has %d links, want 5", n)
			}
			if target, err := os.Readlink(filepath.Join(out, "s")); err != nil || target != "run.sh" {
				t.Errorf("symlink s -> %q, %v", target, err)
			}
			if b, err := os.ReadFile(filepath.Join(out, "sub", "deep", "file")); err != nil || string(b) != "deep" {
				t.Errorf("sub/deep/file = %q, %v", b, err)
			}
		})
	}
}
