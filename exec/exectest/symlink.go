package exectest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalnet/shoal/exec"
)

// RunSymlinkInputs checks that no input mount follows a symlink on the
// host: an input whose source is a symlink (to a secret file or
// directory), or lies under a symlinked directory, is refused with an
// error wrapping exec.ErrInvalidTask and a nil Result, and symlinks inside
// an input directory that point to ../../ or / do not reach the host's
// files. The secret never shows in the program's output.
//
// It creates its own executor with h.New. Engines call it beside [Run].
func RunSymlinkInputs(t *testing.T, h Harness) {
	x := h.New(t)
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	s := &suite{h: h, x: x}

	dir := t.TempDir()
	secretDir := filepath.Join(dir, "secret")
	secret := filepath.Join(secretDir, "key")
	writeFile(t, secret, "s3cr3t")
	real := filepath.Join(dir, "real")
	writeFile(t, filepath.Join(real, "sub", "ok.txt"), "ok")
	links := filepath.Join(dir, "links")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	symlink := func(target, name string) string {
		t.Helper()
		p := filepath.Join(links, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noSecret := func(t *testing.T, res *exec.Result) {
		t.Helper()
		if res != nil && (bytes.Contains(res.Stdout, []byte("s3cr3t")) || bytes.Contains(res.Stderr, []byte("s3cr3t"))) {
			t.Errorf("the program read the host's secret through a symlink: stdout %q", res.Stdout)
		}
	}

	for _, c := range []struct {
		name   string
		source string
		target string
		args   []string
	}{
		{"file source is a symlink", symlink(secret, "to-file"), "/in/key", []string{"cat", "/in/key"}},
		{"dir source is a symlink", symlink(secretDir, "to-dir"), "/in", []string{"cat", "/in/key"}},
		{"relative symlink source", symlink("../secret", "rel-dir"), "/in", []string{"cat", "/in/key"}},
		{"symlink to the root", symlink("/", "to-root"), "/host", []string{"cat", "/host" + secret}},
		{"source under a symlinked dir", filepath.Join(symlink(secretDir, "parent"), "key"), "/in/key", []string{"cat", "/in/key"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := s.task(t, c.args...)
			tk.Inputs = []exec.Mount{{Source: c.source, Target: c.target}}
			res, err := x.Run(context.Background(), tk)
			noSecret(t, res)
			if !errors.Is(err, exec.ErrInvalidTask) || res != nil {
				t.Fatalf("Run with input %s (a symlink) = %+v, %v; want nil and an error wrapping ErrInvalidTask", c.source, res, err)
			}
			t.Logf("refused: %v", err)
		})
	}

	t.Run("symlinks inside an input dir", func(t *testing.T) {
		in := filepath.Join(dir, "in")
		writeFile(t, filepath.Join(in, "ok.txt"), "ok")
		for name, target := range map[string]string{"up": "../../", "root": "/", "abs": secretDir} {
			if err := os.Symlink(target, filepath.Join(in, name)); err != nil {
				t.Fatal(err)
			}
		}
		rel, err := filepath.Rel(dir, secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{
			"/inputs/up/" + filepath.Base(dir) + "/" + rel, // ../../ then down to the secret
			"/inputs/up/" + rel,
			"/inputs/root" + secret,
			"/inputs/abs/key",
		} {
			tk := s.task(t, "cat", p)
			tk.Inputs = []exec.Mount{{Source: in, Target: "/inputs"}}
			res := s.run(t, tk)
			noSecret(t, res)
			if res.ExitCode == 0 {
				t.Errorf("cat %s through a symlink out of the input succeeded: %q", p, res.Stdout)
			}
		}
		res := s.run(t, func() *exec.Task {
			tk := s.task(t, "cat", "/inputs/ok.txt")
			tk.Inputs = []exec.Mount{{Source: in, Target: "/inputs"}}
			return tk
		}())
		wantExit(t, res, 0)
		wantStdout(t, res, "ok")
	})
}
