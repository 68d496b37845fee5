package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/internal/testnet"
)

// carTree writes a small tree: two files (one of several chunks), a
// subdirectory and an empty file.
func carTree(t *testing.T, seed int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeRandom(t, filepath.Join(dir, "big.bin"), 3<<20+seed)
	writeRandom(t, filepath.Join(dir, "sub", "small.bin"), 1000+seed)
	if err := os.WriteFile(filepath.Join(dir, "sub", "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sameTree fails unless a and b hold the same files with the same bytes.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	for _, rel := range []string{"big.bin", "sub/small.bin", "sub/empty"} {
		sameFile(t, filepath.Join(a, rel), filepath.Join(b, rel))
	}
}

// CAR both ways with a stock kubo, never connected to the daemon, so the
// CAR file is the only way the blocks travel: `shoal get --car` →
// `ipfs dag import` → `ipfs get` gives the same files; `ipfs dag export` →
// `shoal add --car` → `shoal get` too, and shoal's export of that DAG is
// byte for byte kubo's.
func TestCARWithKubo(t *testing.T) {
	k := testnet.StartKubo(t)
	d := testnet.Start(t, testnet.Options{})
	tmp := t.TempDir()

	t.Run("shoal to kubo", func(t *testing.T) {
		src := carTree(t, 1)
		id := addQ(t, d, "-r", src)
		car := filepath.Join(tmp, "shoal.car")
		if _, err := d.Run("get", id, "--car", car); err != nil {
			t.Fatal(err)
		}
		out := string(k.Run(t, nil, "dag", "import", car))
		if !strings.Contains(out, id) {
			t.Fatalf("ipfs dag import printed %q, want the root %s", out, id)
		}
		dst := filepath.Join(tmp, "from-kubo")
		k.Run(t, nil, "--offline", "get", id, "-o", dst)
		sameTree(t, src, dst)
	})

	t.Run("kubo to shoal", func(t *testing.T) {
		src := carTree(t, 2)
		id := k.Add(t, src, "--cid-version=1")
		kcar := k.Run(t, nil, "dag", "export", id)
		car := filepath.Join(tmp, "kubo.car")
		if err := os.WriteFile(car, kcar, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := d.Run("add", "-q", "--car", car)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out); got != id {
			t.Fatalf("shoal add --car printed %q, want kubo's root %s", got, id)
		}
		dst := filepath.Join(tmp, "from-shoal")
		if _, err := d.Run("get", id, "-o", dst); err != nil {
			t.Fatal(err)
		}
		sameTree(t, src, dst)
		// Pinned: it survives a GC.
		if _, err := d.Run("gc"); err != nil {
			t.Fatal(err)
		}
		again := filepath.Join(tmp, "again.car")
		if _, err := d.Run("get", id, "--car", again); err != nil {
			t.Fatalf("get --car after gc: %v", err)
		}
		b, err := os.ReadFile(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, kcar) {
			t.Fatalf("shoal's CAR of kubo's DAG differs from kubo's dag export (%d vs %d bytes)", len(b), len(kcar))
		}
	})
}

// A malformed or lying CAR gets a clear error and pins nothing; the daemon
// goes on serving.
func TestAddCARRefusesBadInput(t *testing.T) {
	d := testnet.Start(t, testnet.Options{})
	src := carTree(t, 3)
	id := addQ(t, d, "-r", src)
	good := filepath.Join(t.TempDir(), "good.car")
	if _, err := d.Run("get", id, "--car", good); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(b)
	tampered[len(tampered)-10] ^= 0xff // inside the last block's data
	cases := map[string]struct {
		car  []byte
		want string
	}{
		"garbage":   {[]byte("this is not a CAR at all"), "malformed CAR"},
		"truncated": {b[:len(b)/2], "malformed CAR"},
		"tampered":  {tampered, "mismatch in content integrity"},
		"empty":     {nil, "malformed CAR"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), name+".car")
			if err := os.WriteFile(f, tc.car, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := d.Run("add", "--car", f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("add --car of a %s CAR: %v, want an error saying %q", name, err, tc.want)
			}
			t.Logf("refusal: %v", err)
		})
	}
	if _, err := d.Run("stat", id); err != nil {
		t.Fatalf("daemon after the bad CARs: %v", err)
	}
}
