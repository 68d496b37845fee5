package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// Bytes fetched are bounded on both sides: an executor with
// jobs.max_input_bytes of 1 MiB fails a job whose 4 MiB input it could not
// size when it bid, with the reason; a requester with jobs.max_output_bytes
// of 64 bytes refuses to fetch a job's outputs (`shoal job get`) and any
// other content (`shoal get`) over it.
func TestFetchBoundsOnDaemons(t *testing.T) {
	conf := func(edit func(c *node.Config)) func(string) error {
		return testnet.EditConfig(func(c *node.Config) {
			c.Content.FindProvidersTimeout = node.Duration(2 * time.Second)
			c.Jobs.DisableDocker = true
			c.Jobs.BidWindow = node.Duration(2 * time.Second)
			edit(c)
		})
	}
	a := testnet.Start(t, testnet.Options{Configure: conf(func(c *node.Config) { c.Jobs.MaxOutputBytes = 64 })})
	b := testnet.Start(t, testnet.Options{Bootstrap: []string{a.TCPAddr()}, InitArgs: []string{"--label", "zone=b"},
		Configure: conf(func(c *node.Config) { c.Jobs.MaxInputBytes = 1 << 20 })})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range []*testnet.Daemon{a, b} {
		if _, err := d.Client.Peers(ctx, api.WaitOptions{Min: 1, Timeout: 30 * time.Second, Topic: true}); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, randomBytes(t, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	bigCID := addQ(t, a, big)
	hello := testnet.WasmModule(t, "examples/hello")

	// The executor cannot size the input when it bids (it lacks the root),
	// so the bound is enforced by its fetch.
	j, err := runJSON(t, a, "run", "wasm", hello, "--input", bigCID+":/in/big.bin", "--label", "zone=b", "--name", "too-big")
	if err == nil || j == nil || j.State != api.JobFailed {
		t.Fatalf("job with a 4 MiB input on an executor bounded to 1 MiB: %v %+v", err, j)
	}
	if !strings.Contains(j.Error, "more than 1 MiB (jobs.max_input_bytes)") || !strings.Contains(j.Error, bigCID) {
		t.Fatalf("failure does not say why: %s", j.Error)
	}
	if len(j.Receipts) != 1 || !strings.Contains(j.Receipts[0].Error, "input_too_large") {
		t.Fatalf("receipts %+v, want one whose error says input_too_large", j.Receipts)
	}

	// A job within the bound runs; its outputs are over A's bound.
	small := filepath.Join(dir, "small.txt")
	if err := os.WriteFile(small, []byte(strings.Repeat("the quick brown fox\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	wc := testnet.WasmModule(t, "examples/wordcount")
	j, err = runJSON(t, a, "run", "wasm", wc, "--input", addQ(t, a, small)+":/inputs/small.txt", "--label", "zone=b", "--name", "fits")
	if err != nil || j.State != api.JobCompleted {
		t.Fatalf("job within the bound: %v %+v", err, j)
	}
	out, err := a.Run("job", "get", j.ID, "-o", filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error()+out, "more than 64 B (jobs.max_output_bytes)") {
		t.Fatalf("job get of outputs over jobs.max_output_bytes: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Fatalf("job get wrote %s despite the refusal: %v", filepath.Join(dir, "out"), err)
	}

	other := filepath.Join(dir, "other.bin")
	if err := os.WriteFile(other, randomBytes(t, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	otherCID := addQ(t, b, other)
	out, err = a.Run("get", otherCID, "-o", filepath.Join(dir, "other"))
	if err == nil || !strings.Contains(err.Error()+out, "more than 64 B (jobs.max_output_bytes)") {
		t.Fatalf("get over jobs.max_output_bytes: %v\n%s", err, out)
	}
}

// A DAG 200,000 levels deep in a daemon's repo: `shoal stat` and a job
// naming it as input fail with the depth bound; the bid treats its size as
// unknown; the daemon stays up (a recursive walk would overflow the stack,
// which kills the process).
func TestDeepDAGDaemonStaysUp(t *testing.T) {
	const depth = 200_000
	var blks []blocks.Block
	var below *merkledag.ProtoNode
	for range depth {
		nd := merkledag.NodeWithData([]byte{1})
		if below != nil {
			_ = nd.AddRawLink("", &ipld.Link{Cid: below.Cid(), Size: 1})
		}
		blks = append(blks, nd)
		below = nd
	}
	top := below.Cid().String()
	d := testnet.Start(t, testnet.Options{Configure: func(repo string) error {
		if err := testnet.EditConfig(func(c *node.Config) { c.Jobs.DisableDocker = true })(repo); err != nil {
			return err
		}
		return testnet.PutBlocks(repo, blks)
	}})

	out, err := d.Run("stat", top)
	if err == nil || !strings.Contains(err.Error()+out, "more than the 4096 this node follows") {
		t.Fatalf("stat of a DAG %d deep: %v\n%s", depth, err, out)
	}
	hello := testnet.WasmModule(t, "examples/hello")
	j, err := runJSON(t, d, "run", "wasm", hello, "--input", top+":/in", "--name", "deep", "--queue-timeout", "5s")
	if err == nil || j == nil || j.State != api.JobFailed || !strings.Contains(j.Error, "DAG too deep") {
		t.Fatalf("job with a DAG %d deep as input: %v %+v", depth, err, j)
	}
	select {
	case <-d.Done():
		t.Fatalf("daemon exited:\n%s", d.Log())
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Client.ID(ctx); err != nil {
		t.Fatalf("daemon does not answer after the deep DAG: %v", err)
	}
}

// randomBytes returns n random bytes.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
