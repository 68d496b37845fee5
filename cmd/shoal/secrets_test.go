package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// A job's secret reaches the executor's wasm env (the job prints its
// length), and its value is in no file of either repo (blocks, pebble's
// WAL and tables, job and award records, the config), in no daemon log, in
// the job's outputs or in describe; the spec lists only its name.
func TestSecretReachesOnlyTheRun(t *testing.T) {
	ds := jobNet(t, 2, nil, []string{"role=worker"})
	a, b := ds[0], ds[1]
	mod := addQ(t, a, testnet.WasmModule(t, "internal/testnet/wasm/secretlen"))
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	secret := "tok-" + hex.EncodeToString(raw)
	t.Setenv("API_TOKEN", secret) // --secret NAME takes it from the client's environment

	j, err := runJSON(t, a, "run", "wasm", mod, "--label", "role=worker", "--secret", "API_TOKEN", "--secret", "OTHER=given-inline", "--", "API_TOKEN", "OTHER")
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Executor != b.ID {
		t.Fatalf("job %s: %s, receipts %+v", j.ID, j.State, j.Receipts)
	}
	logs, err := a.Run("job", "logs", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("API_TOKEN has %d bytes\nOTHER has %d bytes\n", len(secret), len("given-inline"))
	if logs != want {
		t.Fatalf("job stdout %q, want %q", logs, want)
	}
	desc, err := a.Run("job", "describe", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "API_TOKEN") {
		t.Fatalf("describe does not list the secret's name:\n%s", desc)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := a.Run("job", "get", j.ID, "-o", out); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{desc, logs} {
		if strings.Contains(text, secret) {
			t.Fatal("the secret's value is in describe or the job's stdout")
		}
	}
	a.Stop()
	b.Stop()
	for _, d := range ds {
		if strings.Contains(d.Log(), secret) || strings.Contains(d.Log(), "given-inline") {
			t.Fatalf("the secret's value is in the log of %s", d.ID)
		}
		for _, dir := range []string{d.Repo, out} {
			n := grepTree(t, dir, []byte(secret), []byte("given-inline"))
			t.Logf("%s: searched %d files", dir, n)
		}
	}
}

// grepTree fails the test if any file under dir holds one of needles, and
// returns how many files it read.
func grepTree(t *testing.T, dir string, needles ...[]byte) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		for _, s := range needles {
			if bytes.Contains(b, s) {
				t.Errorf("%s holds a secret's value", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no file under %s", dir)
	}
	return n
}

// A spec that names a secret cannot be submitted without its value, nor
// with values for names it does not list; the errors name the secret.
func TestSecretValuesChecked(t *testing.T) {
	d := testnet.Start(t, testnet.Options{})
	mod := addQ(t, d, testnet.WasmModule(t, "internal/testnet/wasm/secretlen"))
	dir := t.TempDir()
	spec := filepath.Join(dir, "job.yaml")
	mustWrite(t, spec, []byte("engine: {wasm: {module: "+mod+"}}\nsecrets: [DB_PASSWORD]\n"))
	t.Setenv("UNSET_HERE", "")
	os.Unsetenv("UNSET_HERE")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"job", "run", spec, "--detach"}, "no value was given for them"},
		{[]string{"job", "run", spec, "--detach", "--secret", "DB_PASSWORD=x", "--secret", "EXTRA=y"}, "EXTRA"},
		{[]string{"run", "wasm", mod, "--detach", "--secret", "UNSET_HERE"}, "is not set in this shell"},
	}
	for _, tc := range cases {
		_, err := d.Run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}

// The same with the docker engine: the container's env has the secret for
// the run (the job prints its length), and the executor's repo and log do
// not hold the value.
func TestSecretReachesDockerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a docker image")
	}
	tar := dockerImageTarOf(t, "./internal/testnet/wasm/secretlen")
	cfg := testnet.EditConfig(func(c *node.Config) {
		c.Content.FindProvidersTimeout = node.Duration(5 * time.Second)
		c.Jobs.BidWindow = node.Duration(2 * time.Second)
	})
	a := testnet.Start(t, testnet.Options{Configure: cfg})
	b := testnet.Start(t, testnet.Options{Configure: cfg, Bootstrap: []string{a.TCPAddr()}, InitArgs: []string{"--label", "role=worker"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Client.Peers(ctx, api.WaitOptions{Min: 1, Timeout: 30 * time.Second, Topic: true}); err != nil {
		t.Fatal(err)
	}
	img := addQ(t, a, tar)
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	secret := "dock-" + hex.EncodeToString(raw)
	j, err := runJSON(t, a, "run", "docker", "--image-cid", img, "--label", "role=worker", "--secret", "API_TOKEN="+secret, "--", "API_TOKEN")
	if err != nil {
		t.Fatalf("docker job: %v", err)
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Executor != b.ID {
		t.Fatalf("docker job: %s on %+v", j.State, j.Receipts)
	}
	logs, err := a.Run("job", "logs", j.ID)
	if want := fmt.Sprintf("API_TOKEN has %d bytes\n", len(secret)); err != nil || logs != want {
		t.Fatalf("job stdout %q %v, want %q", logs, err, want)
	}
	a.Stop()
	b.Stop()
	for _, d := range []*testnet.Daemon{a, b} {
		if strings.Contains(d.Log(), secret) {
			t.Fatalf("the secret's value is in the log of %s", d.ID)
		}
		grepTree(t, d.Repo, []byte(secret))
	}
}
