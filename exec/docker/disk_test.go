package docker_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
)

// dirBytes sums the sizes of the regular files below dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// TestDiskBounded: the root filesystem is read-only, /tmp and the outputs
// are tmpfs of the disk limit, and a job that writes more than the limit to
// its outputs fails with ErrDiskLimit; what reaches the host is bounded.
// Both ways of bounding the outputs: a tmpfs the executor mounts on the
// host (the default when it may mount) and a volume held by a keeper.
func TestDiskBounded(t *testing.T) {
	requireDocker(t)
	for _, c := range []struct {
		name   string
		opts   []docker.Option
		source string // of the outputs mount, as the job sees it
	}{
		{"host tmpfs", nil, docker.MountSource + ":" + instance},
		{"keeper", []docker.Option{docker.WithOutputsVolume()}, "tmpfs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.opts == nil {
				requireMount(t)
			}
			testDiskBounded(t, newExecutor(t, c.opts...), c.source)
		})
	}
}

func testDiskBounded(t *testing.T, x *docker.Executor, source string) {
	const limit = 2 << 20
	var outs []string // every outputs dir, to check that none is left mounted
	run := func(t *testing.T, out string, args ...string) (*exec.Result, error) {
		tk := progTask("disk-"+randomHex(4), args...)
		tk.Limits.DiskBytes = limit
		tk.OutputsDir = out
		if out != "" {
			outs = append(outs, filepath.Dir(out))
		}
		return x.Run(context.Background(), tk)
	}

	t.Run("rootfs read-only", func(t *testing.T) {
		res, err := run(t, "", "write", "/pwned.txt", "x")
		if err != nil || res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "read-only file system") {
			t.Fatalf("Run = %+v, %v; want a read-only root", res, err)
		}
	})
	t.Run("tmp bounded", func(t *testing.T) {
		res, err := run(t, "", "fill", "/tmp/big", fmt.Sprint(8<<20))
		if err != nil || res.ExitCode != 1 || !strings.Contains(string(res.Stderr), "no space left on device") {
			t.Fatalf("Run = %+v, %v; want ENOSPC in /tmp", res, err)
		}
		res, err = run(t, "", "fill", "/tmp/small", fmt.Sprint(1<<20))
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("within the limit: Run = %+v, %v", res, err)
		}
	})
	t.Run("outputs mount", func(t *testing.T) {
		res, err := run(t, filepath.Join(t.TempDir(), "out"), "cat", "/proc/self/mountinfo")
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Run = %+v, %v", res, err)
		}
		var line string
		for _, l := range strings.Split(string(res.Stdout), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[4] == exec.DefaultOutputsPath {
				line = l
			}
		}
		if _, rest, _ := strings.Cut(line, " - "); !strings.HasPrefix(rest, "tmpfs "+source+" ") {
			t.Fatalf("outputs mount %q, want a tmpfs of source %q", line, source)
		}
	})
	t.Run("outputs over the limit", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		res, err := run(t, out, "fill", "/outputs/big", fmt.Sprint(8<<20))
		if !errors.Is(err, exec.ErrDiskLimit) {
			t.Fatalf("Run = %+v, %v; want ErrDiskLimit", res, err)
		}
		if n := dirBytes(t, out); n > limit+4096 {
			t.Errorf("%d bytes reached the host, more than the limit of %d", n, limit)
		}
	})
	t.Run("outputs within the limit", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		res, err := run(t, out, "fill", "/outputs/ok", fmt.Sprint(1<<20))
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Run = %+v, %v", res, err)
		}
		if st, err := os.Stat(filepath.Join(out, "ok")); err != nil || st.Size() != 1<<20 {
			t.Fatalf("outputs file: %v, %v", st, err)
		}
		// A symlink the job made is copied as a symlink, never followed.
		_, err = run(t, out, "escape", "/outputs/link", "/etc/hostname")
		if err != nil {
			t.Fatal(err)
		}
		if target, err := os.Readlink(filepath.Join(out, "link")); err != nil || target != "/etc/hostname" {
			t.Errorf("outputs link = %q, %v", target, err)
		}
	})
	// Nothing of these runs is left on the engine, nor mounted on the host
	// (nor a mount point beside the outputs dirs).
	vols, err := cli.VolumeList(context.Background(), client.VolumeListOptions{Filters: client.Filters{}.Add("label", docker.LabelInstance+"="+instance)})
	if err != nil || len(vols.Items) != 0 {
		t.Errorf("volumes left: %v, %v", vols.Items, err)
	}
	if got := containers(t, docker.LabelInstance, instance); len(got) != 0 {
		t.Errorf("%d containers left", len(got))
	}
	for _, dir := range outs {
		if ms := mountsUnder(t, dir); len(ms) != 0 {
			t.Errorf("left mounted: %q", ms)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() != "out" {
				t.Errorf("left beside the outputs dir: %s", e.Name())
			}
		}
	}
}
