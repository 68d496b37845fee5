package docker_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
)

// hostSecret writes a file only the host has and returns its directory.
func hostSecret(t *testing.T) (dir, secret string) {
	t.Helper()
	dir = t.TempDir()
	secret = "host-secret-" + randomHex(8)
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, secret
}

// TestSymlinkMountRefused: an input (or the outputs directory) whose path is
// a symlink is refused before the engine sees it; dockerd would follow it on
// the host and show the job the host's files.
func TestSymlinkMountRefused(t *testing.T) {
	x := newExecutor(t)
	secretDir, secret := hostSecret(t)
	work := t.TempDir()
	for _, c := range []struct {
		name string
		task func(link string) *exec.Task
	}{
		{"input dir", func(link string) *exec.Task {
			tk := progTask("symlink-in-"+randomHex(4), "cat", "/in/secret.txt")
			tk.Inputs = []exec.Mount{{Source: link, Target: "/in"}}
			return tk
		}},
		{"input file", func(link string) *exec.Task {
			tk := progTask("symlink-file-"+randomHex(4), "cat", "/in.txt")
			tk.Inputs = []exec.Mount{{Source: filepath.Join(link, "secret.txt"), Target: "/in.txt"}}
			return tk
		}},
		{"outputs dir", func(link string) *exec.Task {
			tk := progTask("symlink-out-"+randomHex(4), "write", "/outputs/pwned.txt", "pwned")
			tk.OutputsDir = link
			return tk
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			link := filepath.Join(work, randomHex(4))
			target := secretDir
			if c.name == "input file" {
				// The symlink is the file itself: <dir>/secret.txt -> host file.
				if err := os.Mkdir(link, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join(secretDir, "secret.txt"), filepath.Join(link, "secret.txt")); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			res, err := x.Run(context.Background(), c.task(link))
			if !errors.Is(err, docker.ErrSymlink) || !errors.Is(err, exec.ErrInvalidTask) {
				t.Errorf("Run error = %v, want ErrSymlink and ErrInvalidTask", err)
			}
			if res != nil && strings.Contains(string(res.Stdout), secret) {
				t.Errorf("the job read the host's file: %q", res.Stdout)
			}
			if _, err := os.Stat(filepath.Join(secretDir, "pwned.txt")); err == nil {
				t.Errorf("the job wrote into the host directory through the symlink")
			}
		})
	}
}

// TestSymlinksInsideInputStayInside: symlinks inside an input directory
// resolve in the container's mount namespace: "/" is the container's root,
// ".." stops there, and an absolute host path does not exist.
func TestSymlinksInsideInputStayInside(t *testing.T) {
	x := newExecutor(t)
	secretDir, secret := hostSecret(t)
	in := t.TempDir()
	for name, target := range map[string]string{
		"link":   "/",
		"up":     "../../..",
		"abs":    secretDir,
		"secret": filepath.Join(secretDir, "secret.txt"),
	} {
		if err := os.Symlink(target, filepath.Join(in, name)); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) *exec.Result {
		t.Helper()
		tk := progTask("symlink-inside-"+randomHex(4), args...)
		tk.Inputs = []exec.Mount{{Source: in, Target: "/in"}}
		res, err := x.Run(context.Background(), tk)
		if err != nil {
			t.Fatalf("Run %v: %v", args, err)
		}
		return res
	}
	root := string(run("ls", "/").Stdout)
	if !strings.Contains(root, "prog") {
		t.Fatalf("ls / = %q, want the image's root", root)
	}
	for _, dir := range []string{"/in/link", "/in/up"} {
		if got := string(run("ls", dir).Stdout); got != root {
			t.Errorf("ls %s = %q, want the container's root %q", dir, got, root)
		}
	}
	for _, p := range []string{"/in/abs/secret.txt", "/in/secret", "/in/link" + secretDir + "/secret.txt", "/in/up" + secretDir + "/secret.txt"} {
		res := run("cat", p)
		if res.ExitCode == 0 || strings.Contains(string(res.Stdout), secret) {
			t.Errorf("cat %s: exit %d, stdout %q: the host's file was read", p, res.ExitCode, res.Stdout)
		}
	}
}
