package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/internal/untar"
	"github.com/shoalnet/shoal/node/api"
)

// The executor is gone, but another node pinned the outputs: `job get`
// fetches them from that node (the DHT lists it as a provider). A file an
// earlier, interrupted get wrote whole is kept, not written again; the
// outputs also export as a CAR whose root is the outputs CID.
func TestJobGetFromAnotherProviderAndResume(t *testing.T) {
	ds := jobNet(t, 3, nil, []string{"role=worker"})
	a, b, c := ds[0], ds[1], ds[2]
	sleep := addQ(t, a, testnet.WasmModule(t, "internal/testnet/wasm/sleep"))
	j, err := runJSON(t, a, "run", "wasm", sleep, "--label", "role=worker", "--", "0s")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Executor != b.ID {
		t.Fatalf("job %s: %s, receipts %+v", j.ID, j.State, j.Receipts)
	}
	outputs := j.Receipts[0].Outputs
	if _, err := c.Run("pin", "add", outputs); err != nil {
		t.Fatalf("C pins the outputs: %v", err)
	}
	b.Stop() // the executor is gone

	out := filepath.Join(t.TempDir(), "results")
	partial := untar.PartialDir(out, outputs)
	if err := os.MkdirAll(filepath.Join(partial, topName), 0o700); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(partial, topName, "done"), []byte("done\n")) // what an interrupted get left
	cmd := exec.Command(a.Bin, "--repo", a.Repo, "job", "get", j.ID, "-o", out)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("job get with the executor gone: %v\n%s", err, msg)
	}
	t.Logf("job get:\n%s", msg)
	if !strings.Contains(string(msg), "resumed: kept 1 files") || !strings.Contains(string(msg), "fetched "+outputs) {
		t.Fatalf("job get does not report the fetch and the resume:\n%s", msg)
	}
	if b, err := os.ReadFile(filepath.Join(out, "done")); err != nil || string(b) != "done\n" {
		t.Fatalf("outputs: %q %v", b, err)
	}
	if _, err := os.Lstat(partial); !os.IsNotExist(err) {
		t.Fatalf("partial directory left: %v", err)
	}

	car := filepath.Join(t.TempDir(), "out.car")
	if _, err := a.Run("job", "get", j.ID, "--car", car); err != nil {
		t.Fatal(err)
	}
	roots, err := c.Run("add", "-q", "--car", car)
	if err != nil || strings.TrimSpace(roots) != outputs {
		t.Fatalf("the CAR's roots: %q %v, want %s", roots, err, outputs)
	}
}
