package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

func TestThreeDaemonsDiscoverEachOther(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 daemons")
	}
	first := testnet.Start(t, testnet.Options{InitArgs: []string{"--label", "role=first"}})
	ds := []*testnet.Daemon{first}
	for i := 0; i < 2; i++ {
		ds = append(ds, testnet.Start(t, testnet.Options{Bootstrap: []string{first.TCPAddr()}, InitArgs: []string{"--label", "zone=z" + string(rune('1'+i))}}))
	}
	ids := map[string]bool{}
	for _, d := range ds {
		ids[d.ID] = true
	}
	for _, d := range ds {
		// `shoal peers --wait 2` returns once two peers are connected
		// (driven by connection events in the daemon).
		out, err := d.Run("peers", "--json", "--wait", "2", "--timeout", "30s")
		if err != nil {
			t.Fatal(err)
		}
		var peers []api.Peer
		if err := json.Unmarshal([]byte(out), &peers); err != nil {
			t.Fatalf("peers --json: %v\n%s", err, out)
		}
		if len(peers) != 2 {
			t.Fatalf("%s sees %d peers, want 2: %s", d.ID, len(peers), out)
		}
		for _, p := range peers {
			if !ids[p.ID] || p.ID == d.ID {
				t.Fatalf("%s lists unexpected peer %s", d.ID, p.ID)
			}
		}
	}
	for _, d := range ds {
		out, err := d.Run("nodes", "--json", "--wait", "3", "--timeout", "30s")
		if err != nil {
			t.Fatal(err)
		}
		var res api.NodesResponse
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("nodes --json: %v\n%s", err, out)
		}
		if len(res.Nodes) != 3 {
			t.Fatalf("%s lists %d nodes, want 3: %s", d.ID, len(res.Nodes), out)
		}
		for _, n := range res.Nodes {
			if !ids[n.Peer.String()] {
				t.Fatalf("unknown node %s", n.Peer)
			}
			if !n.HasEngine("wasm") || n.CPU <= 0 || n.Memory <= 0 || n.Software == "" {
				t.Fatalf("node %s has incomplete capabilities: %+v", n.Peer, n)
			}
		}
	}
	// Filters: by label and by engine.
	out, err := ds[2].Run("nodes", "--json", "--label", "role=first", "--wait", "1", "--timeout", "30s")
	if err != nil {
		t.Fatal(err)
	}
	var res api.NodesResponse
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Nodes) != 1 || res.Nodes[0].Peer.String() != first.ID {
		t.Fatalf("nodes --label role=first = %s (%v), want only %s", out, err, first.ID)
	}
	out, err = ds[1].Run("nodes", "--json", "--engine", "no-such-engine", "--timeout", "2s")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Nodes) != 0 {
		t.Fatalf("nodes --engine no-such-engine = %s, want none", out)
	}
}

func TestDaemonRestartKeepsIdentityAndLocks(t *testing.T) {
	d := testnet.Start(t, testnet.Options{})
	id := d.ID

	// A second daemon on the same repo fails clearly.
	out, err := exec.Command(d.Bin, "--repo", d.Repo, "daemon").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "repo locked by pid") {
		t.Fatalf("second daemon: err %v, output %q; want 'repo locked by pid'", err, out)
	}

	if err := d.Restart(nil); err != nil {
		t.Fatal(err)
	}
	if d.ID != id {
		t.Fatalf("peer ID changed across restart: %s -> %s", id, d.ID)
	}
	got, err := d.Client.ID(context.Background())
	if err != nil || got.ID != id {
		t.Fatalf("API id after restart = %v, %v", got, err)
	}

	// Graceful shutdown on SIGTERM in under 5 s, removing the api file.
	start := time.Now()
	d.Stop()
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("shutdown took %s", el)
	}
	if d.ExitCode() != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", d.ExitCode(), d.Log())
	}
	if _, err := os.Stat(filepath.Join(d.Repo, "api")); !os.IsNotExist(err) {
		t.Fatalf("api file left behind: %v", err)
	}
	_, err = d.Run("id")
	if err == nil || !strings.Contains(err.Error(), "no daemon running for repo") {
		t.Fatalf("id without daemon: %v", err)
	}
}

func TestCLIErrors(t *testing.T) {
	bin := testnet.Binary(t)
	dir := t.TempDir()
	repo := filepath.Join(dir, "r")
	if out, err := exec.Command(bin, "--repo", repo, "init", "--profile", "local").CombinedOutput(); err != nil {
		t.Fatalf("init: %v %s", err, out)
	}
	badConfig := filepath.Join(dir, "bad")
	if out, err := exec.Command(bin, "--repo", badConfig, "init", "--profile", "local").CombinedOutput(); err != nil {
		t.Fatalf("init: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(badConfig, "config"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"malformed bootstrap", []string{"--repo", repo, "daemon", "--bootstrap", "/ip4/not-an-ip/tcp/1"}, "invalid bootstrap address"},
		{"bootstrap without peer id", []string{"--repo", repo, "daemon", "--bootstrap", "/ip4/127.0.0.1/tcp/1"}, "must end in /p2p/PEERID"},
		{"unreadable config", []string{"--repo", badConfig, "daemon"}, "is not valid"},
		{"missing repo", []string{"--repo", filepath.Join(dir, "none"), "daemon"}, "create one with `shoal init`"},
		{"init twice", []string{"--repo", repo, "init"}, "repo already initialized"},
		{"unknown profile", []string{"--repo", filepath.Join(dir, "p"), "init", "--profile", "cloud"}, `unknown profile "cloud"`},
		{"client without daemon", []string{"--repo", repo, "peers"}, "no daemon running for repo " + repo},
		{"doctor without daemon", []string{"--repo", repo, "doctor"}, "is `shoal daemon` running"},
		{"init bad bootstrap", []string{"--repo", filepath.Join(dir, "b"), "init", "--bootstrap", "/ip4/127.0.0.1/tcp/1"}, "--bootstrap: invalid bootstrap address"},
		{"bad log level", []string{"--log-level", "loud", "version"}, "invalid --log-level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(bin, tc.args...).CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0, want failure; output %s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output %q does not contain %q", out, tc.want)
			}
		})
	}
}
