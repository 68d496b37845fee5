package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// A requester adds a symlink to a file outside (`ln -s SECRET x; shoal add
// x`) and mounts it as a job input: the executor refuses the input when it
// materializes it, with an error that says why, and the secret appears
// nowhere in what the job returns. Before, the executor wrote the input as
// a real symlink and the wasm engine followed it to the host. The symlink
// is added on b, so the requester a does not hold it and the executors'
// check is what refuses it; a requester that holds it refuses at submit.
func TestJobRefusesSymlinkInput(t *testing.T) {
	ds := jobNet(t, 2)
	a, b := ds[0], ds[1]
	prog := testnet.WasmModule(t, "exec/internal/testprog/prog")
	dir := t.TempDir()
	secretText := "executor-private-key-" + filepath.Base(dir)
	secret := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(secret, []byte(secretText), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "x")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	in := addQ(t, b, link)

	if out, err := b.Run("run", "wasm", prog, "--input", in+":/host", "--", "cat", "/host"); err == nil ||
		!strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("a requester holding a symlink input accepted the job: %v\n%s", err, out)
	}

	j, err := runJSON(t, a, "run", "wasm", prog, "--input", in+":/host", "--queue-timeout", "20s", "--", "cat", "/host")
	if err == nil || j == nil || j.State != api.JobFailed {
		t.Fatalf("job with a symlink input: %v %+v, want it failed", err, j)
	}
	if !strings.HasPrefix(j.Error, "bad_input: ") || !strings.Contains(j.Error, "is a symlink") || !strings.Contains(j.Error, "must be a file or a directory") {
		t.Fatalf("the failure does not say the input is a symlink: %s", j.Error)
	}
	for _, r := range j.Receipts {
		if r.Error != "" && !strings.Contains(r.Error, in) {
			t.Fatalf("receipt error does not name the input %s: %s", in, r.Error)
		}
	}
	logs, _ := a.Run("job", "logs", j.ID)
	rec, _ := a.Run("job", "describe", j.ID)
	for what, s := range map[string]string{"error": j.Error, "logs": logs, "record": rec} {
		if strings.Contains(s, secretText) {
			t.Fatalf("the secret leaked into the job's %s", what)
		}
	}
	t.Logf("failure: %s", j.Error)
}
