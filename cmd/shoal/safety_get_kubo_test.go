package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"

	"github.com/shoalnet/shoal/content/contenttest"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
)

// dagJSON is n as dag-json, its links in the order given (for `ipfs dag put
// --input-codec dag-json --store-codec dag-pb`, which keeps that order).
func dagJSON(t *testing.T, n *merkledag.ProtoNode) []byte {
	t.Helper()
	type link struct {
		Hash  map[string]string `json:"Hash"`
		Name  string            `json:"Name"`
		Tsize uint64            `json:"Tsize"`
	}
	v := struct {
		Data  map[string]map[string]string `json:"Data"`
		Links []link                       `json:"Links"`
	}{Data: map[string]map[string]string{"/": {"bytes": base64.RawStdEncoding.EncodeToString(n.Data())}}, Links: []link{}}
	for _, l := range n.Links() {
		v.Links = append(v.Links, link{Hash: map[string]string{"/": l.Cid.String()}, Name: l.Name, Tsize: l.Size})
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The setting: a stock kubo serves the hostile DAG (its roots
// written with `ipfs dag put --store-codec dag-pb`), the Shoal daemon
// fetches it from kubo over bitswap, and `shoal get` refuses it, the victim
// untouched and nothing beside the output.
func TestGetRefusesHostileDAGFromKubo(t *testing.T) {
	k := testnet.StartKubo(t)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "bashrc"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var d contenttest.DAG
	cases := hostileDAGs(&d, victim)
	roots := map[string]bool{}
	for _, tc := range cases {
		roots[tc.root.Cid().String()] = true
	}
	// Everything but the roots as raw blocks; the roots through dag put.
	kuboCID := map[string]string{}
	for _, n := range d.Nodes() {
		if roots[n.Cid().String()] {
			pn := n.(*merkledag.ProtoNode)
			kuboCID[n.Cid().String()] = strings.TrimSpace(string(k.Run(t, dagJSON(t, pn),
				"dag", "put", "--store-codec", "dag-pb", "--input-codec", "dag-json")))
			continue
		}
		k.Run(t, n.RawData(), "block", "put", "--cid-codec", "dag-pb")
	}
	short := testnet.EditConfig(func(c *node.Config) { c.Content.FindProvidersTimeout = node.Duration(10 * time.Second) })
	daemon := testnet.Start(t, testnet.Options{Configure: short, Bootstrap: []string{k.P2PAddr()}})
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := kuboCID[tc.root.Cid().String()]
			parent := t.TempDir()
			_, err := daemon.Run("get", c, "-o", filepath.Join(parent, "out"))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "outside the target directory") {
				t.Fatalf("get of kubo's %s: %v, want a refusal saying %q", c, err, tc.want)
			}
			checkVictim(t, victim)
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Fatalf("get left %d entries beside the output", len(ents))
			}
		})
	}
}
