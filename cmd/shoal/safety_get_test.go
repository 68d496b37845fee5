package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ipld "github.com/ipfs/go-ipld-format"

	"github.com/shoalnet/shoal/content/contenttest"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
)

// hostileDAGs are directories that write through a symlink to victim when
// extracted naively: entry "a" a symlink to victim, then an entry making
// a/pwned.txt, by name ("a/pwned.txt") or by a second "a" that is a
// directory. Each name maps to the root and the words the refusal says.
func hostileDAGs(d *contenttest.DAG, victim string) map[string]struct {
	root ipld.Node
	want string
} {
	type L = contenttest.Link
	pwned := d.File([]byte("pwned\n"))
	return map[string]struct {
		root ipld.Node
		want string
	}{
		"slash": {d.Dir(L{Name: "a", Node: d.Symlink(victim)}, L{Name: "a/pwned.txt", Node: pwned}), "contains a slash"},
		"duplicate": {d.Dir(L{Name: "a", Node: d.Symlink(victim)},
			L{Name: "a", Node: d.Dir(L{Name: "pwned.txt", Node: pwned})}), `"a" appears twice`},
		"dot-dot": {d.Dir(L{Name: "..", Node: d.Dir(L{Name: "pwned.txt", Node: pwned})}), "names a directory itself"},
	}
}

// `shoal get` of a hostile DAG served by another peer fails with a clear
// error; the victim directory is untouched and nothing exists beside the
// output path. A benign DAG from the same peer, a symlink inside, still
// comes back whole. A real daemon, a real peer over bitswap on loopback.
func TestGetRefusesHostileDAG(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "bashrc"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var d contenttest.DAG
	cases := hostileDAGs(&d, victim)
	benign := d.Dir(contenttest.Link{Name: "link", Node: d.Symlink(victim)},
		contenttest.Link{Name: "f.txt", Node: d.File([]byte("fine\n"))})
	peer := testnet.ServeBlocks(t, d.Blocks())
	short := testnet.EditConfig(func(c *node.Config) { c.Content.FindProvidersTimeout = node.Duration(10 * time.Second) })
	daemon := testnet.Start(t, testnet.Options{Configure: short, Bootstrap: []string{peer}})

	out := filepath.Join(t.TempDir(), "benign")
	if _, err := daemon.Run("get", benign.Cid().String(), "-o", out); err != nil {
		t.Fatalf("get of a benign DAG from the peer: %v", err)
	}
	if got, err := os.Readlink(filepath.Join(out, "link")); err != nil || got != victim {
		t.Fatalf("benign symlink: %q %v", got, err)
	}

	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			_, err := daemon.Run("get", tc.root.Cid().String(), "-o", out)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "outside the target directory") {
				t.Fatalf("get of a hostile DAG: %v, want a refusal saying %q", err, tc.want)
			}
			t.Logf("refusal: %v", err)
			checkVictim(t, victim)
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Fatalf("get left %d entries beside the output (%s...)", len(ents), ents[0].Name())
			}
		})
	}
}

// checkVictim fails the test unless victim holds only its bashrc, unchanged.
func checkVictim(t *testing.T, victim string) {
	t.Helper()
	ents, err := os.ReadDir(victim)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("victim directory holds %d entries, want only bashrc", len(ents))
	}
	if b, err := os.ReadFile(filepath.Join(victim, "bashrc")); err != nil || string(b) != "mine\n" {
		t.Fatalf("victim file changed: %q %v", b, err)
	}
}
