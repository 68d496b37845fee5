package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// TestJobAcknowledgedSurvivesKill9: a job whose ID `run --detach` printed is
// on the requester after a kill -9 right after the acknowledgment, and its
// run completes. The last submissions fill a WAL block only partly, which
// an unsynced store loses.
func TestJobAcknowledgedSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a daemon with SIGKILL and restarts it")
	}
	ds := jobNet(t, 2, nil, []string{"role=worker"})
	a := ds[0]
	sleep := addQ(t, a, testnet.WasmModule(t, "internal/testnet/wasm/sleep"))
	const n = 5
	var ids []string
	for i := range n {
		out, err := a.Run("run", "wasm", sleep, "--detach", "--name", fmt.Sprintf("kill9-%d", i), "--label", "role=worker", "--", "1s")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	a.Kill() // SIGKILL the moment the last ID was acknowledged
	if err := a.Restart([]string{ds[1].TCPAddr()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, id := range ids {
		if _, err := a.Client.Job(ctx, id); err != nil {
			t.Fatalf("job %s acknowledged before the kill: %v", id, err)
		}
	}
	for _, id := range ids {
		final, err := a.Client.Events(ctx, id, nil)
		if err != nil {
			t.Fatalf("job %s: %v", id, err)
		}
		if final.State != api.JobCompleted {
			t.Fatalf("job %s after the kill: %s (%s)", id, final.State, final.Error)
		}
	}
}

// TestFetchedPinSurvivesKill9: a DAG that `pin add` fetched (its blocks
// written in batches by the fetch, synced once before the pin) is whole
// and pinned after a kill -9 right after the pin was acknowledged, with its
// only other holder gone.
func TestFetchedPinSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a daemon with SIGKILL and restarts it")
	}
	a, b := twoDaemons(t)
	src := filepath.Join(t.TempDir(), "data.bin")
	writeRandom(t, src, 40<<20+123) // 161 blocks: several write-back batches
	id := addQ(t, a, src)
	if _, err := b.Run("pin", "add", id); err != nil {
		t.Fatal(err)
	}
	b.Kill() // SIGKILL the moment the pin was acknowledged
	a.Stop()
	if err := b.Restart(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := b.Client.Stat(ctx, id)
	if err != nil || !st.Local || st.Size != 40<<20+123 {
		t.Fatalf("after kill -9: %+v %v", st, err)
	}
	pins, err := b.Run("pin", "ls")
	if err != nil || !strings.Contains(pins, id) {
		t.Fatalf("pin lost: %q %v", pins, err)
	}
	out := filepath.Join(t.TempDir(), "out.bin")
	if _, err := b.Run("get", id, "-o", out); err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, out)
}
