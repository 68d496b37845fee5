package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// twoDaemons starts A and B (B bootstrapped to A) with a short provider wait.
func twoDaemons(t *testing.T) (*testnet.Daemon, *testnet.Daemon) {
	t.Helper()
	short := testnet.EditConfig(func(c *node.Config) { c.Content.FindProvidersTimeout = node.Duration(3 * time.Second) })
	ds := testnet.Network(t, 2, testnet.Options{Configure: short})
	return ds[0], ds[1]
}

func writeRandom(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := mrand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	if _, err := io.CopyN(f, r, n); err != nil {
		t.Fatal(err)
	}
}

func addQ(t *testing.T, d *testnet.Daemon, args ...string) string {
	t.Helper()
	out, err := d.Run(append([]string{"add", "-q"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s (%d bytes) and %s (%d bytes) differ", a, len(x), b, len(y))
	}
}

func TestContentRoundTripsBetweenDaemons(t *testing.T) {
	a, b := twoDaemons(t)
	dir := t.TempDir()
	sizes := map[string]int64{"empty": 0, "one": 1, "small": 1000, "big": 64 << 20}
	if testing.Short() {
		delete(sizes, "big")
	}
	for name, size := range sizes {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(dir, name)
			writeRandom(t, src, size)
			c := addQ(t, a, src)
			dst := filepath.Join(t.TempDir(), "got")
			if _, err := b.Run("get", c, "-o", dst); err != nil {
				t.Fatal(err)
			}
			sameFile(t, src, dst)
			// cat streams the same bytes.
			out, err := b.Run("cat", c)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(out)) != size {
				t.Fatalf("cat gave %d bytes, want %d", len(out), size)
			}
		})
	}

	t.Run("tree", func(t *testing.T) {
		root := filepath.Join(dir, "tree")
		for _, p := range []string{"a/b/c", "a/empty", "d"} {
			if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		writeRandom(t, filepath.Join(root, "a/b/c/deep.bin"), 300_000)
		writeRandom(t, filepath.Join(root, "a/one"), 1)
		writeRandom(t, filepath.Join(root, "d/zero"), 0)
		if err := os.Symlink("../a/one", filepath.Join(root, "d/link")); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Run("add", root); err == nil || !strings.Contains(err.Error(), "use -r") {
			t.Fatalf("add of a directory without -r: %v", err)
		}
		c := addQ(t, a, "-r", root)
		dst := filepath.Join(t.TempDir(), "tree")
		if _, err := b.Run("get", c, "-o", dst); err != nil {
			t.Fatal(err)
		}
		sameFile(t, filepath.Join(root, "a/b/c/deep.bin"), filepath.Join(dst, "a/b/c/deep.bin"))
		sameFile(t, filepath.Join(root, "a/one"), filepath.Join(dst, "a/one"))
		sameFile(t, filepath.Join(root, "d/zero"), filepath.Join(dst, "d/zero"))
		if st, err := os.Stat(filepath.Join(dst, "a/empty")); err != nil || !st.IsDir() {
			t.Fatalf("empty directory not recreated: %v", err)
		}
		// Symlinks are stored as symlinks and recreated, never followed.
		target, err := os.Readlink(filepath.Join(dst, "d/link"))
		if err != nil || target != "../a/one" {
			t.Fatalf("symlink: %q, %v", target, err)
		}
		out, err := b.Run("ls", "--json", c)
		if err != nil {
			t.Fatal(err)
		}
		var entries []api.LsEntry
		if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 2 {
			t.Fatalf("ls: %s %v", out, err)
		}
		// get into the now non-empty path refuses, --force replaces.
		if _, err := b.Run("get", c, "-o", dst); err == nil || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("get into a non-empty path: %v", err)
		}
		if _, err := b.Run("get", "--force", c, "-o", dst); err != nil {
			t.Fatal(err)
		}
	})
}

func TestContentBadInput(t *testing.T) {
	a, _ := twoDaemons(t)
	// A CID nobody has: a clear error after the configured wait, not a hang.
	unknown := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := a.RunContext(ctx, nil, "get", unknown, "-o", filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "no providers found for CID "+unknown+" within 3s") {
		t.Fatalf("unknown CID: %v", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("unknown CID took %s", el)
	}
	for _, bad := range []string{"nonsense", "Qm123", "bafy!"} {
		if _, err := a.Run("cat", bad); err == nil || !strings.Contains(err.Error(), "invalid CID") {
			t.Errorf("cat %q: %v", bad, err)
		}
	}
}

func TestGCKeepsPinned(t *testing.T) {
	a := testnet.Start(t, testnet.Options{})
	dir := t.TempDir()
	pinnedSrc, loose := filepath.Join(dir, "pinned"), filepath.Join(dir, "loose")
	writeRandom(t, pinnedSrc, 2<<20)
	writeRandom(t, loose, 2<<20+1)
	pinned := addQ(t, a, pinnedSrc)
	unpinned := addQ(t, a, "--pin=false", loose)
	out, err := a.Run("gc")
	if err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("gc: %s %v", out, err)
	}
	var st api.StatResponse
	out, _ = a.Run("stat", "--json", pinned)
	if err := json.Unmarshal([]byte(out), &st); err != nil || !st.Local {
		t.Fatalf("pinned content not fully local after gc: %s", out)
	}
	got := filepath.Join(t.TempDir(), "p")
	if _, err := a.Run("get", pinned, "-o", got); err != nil {
		t.Fatal(err)
	}
	sameFile(t, pinnedSrc, got)
	out, _ = a.Run("stat", "--json", unpinned)
	if err := json.Unmarshal([]byte(out), &st); err == nil && st.Local {
		t.Fatalf("unpinned content survived gc: %s", out)
	}
	// Unpin then gc removes the rest.
	if _, err := a.Run("pin", "rm", pinned); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run("gc"); err != nil {
		t.Fatal(err)
	}
	out, _ = a.Run("pin", "ls", "--json")
	if strings.Contains(out, pinned) {
		t.Fatalf("pin survived pin rm: %s", out)
	}
}

// A kill -9 of the daemon in the middle of a large add leaves a repo that
// opens again, with nothing half-imported pinned.
func TestKillDuringAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("large add")
	}
	a := testnet.Start(t, testnet.Options{})
	before, err := a.Client.PinLs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Stream random bytes from stdin; kill the daemon once some arrived.
	pr, pw := io.Pipe()
	cmd := exec.Command(a.Bin, "--repo", a.Repo, "add", "-q", "-")
	cmd.Stdin = pr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := 0; i < 64; i++ { // 64 MiB written (the pipe blocks until the daemon reads)
		_, _ = rand.Read(buf)
		if _, err := pw.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	a.Kill()
	pw.CloseWithError(io.ErrUnexpectedEOF)
	_ = cmd.Wait()
	if cmd.ProcessState.ExitCode() == 0 {
		t.Fatal("add reported success although the daemon died")
	}
	if err := a.Restart(nil); err != nil {
		t.Fatalf("repo does not open again after kill -9: %v", err)
	}
	after, err := a.Client.PinLs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("pins before %v, after kill during add %v", before, after)
	}
	// The repo still works.
	src := filepath.Join(t.TempDir(), "f")
	writeRandom(t, src, 1000)
	addQ(t, a, src)
}
