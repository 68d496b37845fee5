package main

import (
	"context"
	"fmt"
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

// dockerImageTar builds a FROM-scratch image holding a static build of the
// sleep test program, saves it as a tarball and removes the image, so that
// the only copy travels as a CID.
func dockerImageTar(t *testing.T) string {
	t.Helper()
	return dockerImageTarOf(t, "./internal/testnet/wasm/sleep")
}

// dockerImageTarOf is dockerImageTar for the test program pkg.
func dockerImageTarOf(t *testing.T, pkg string) string {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker Engine answers: %v", err)
		}
		t.Skipf("no Docker Engine answers (docker info: %v); the docker job test needs one", err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "prog"), pkg)
	build.Dir = moduleRootForTest(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY prog /prog\nENTRYPOINT [\"/prog\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("shoal-test/e2e:%d", time.Now().UnixNano())
	for _, args := range [][]string{{"build", "-q", "-t", tag, dir}, {"save", "-o", filepath.Join(dir, "image.tar"), tag}, {"rmi", tag}} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}
	return filepath.Join(dir, "image.tar")
}

func moduleRootForTest(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

// An image named by the CID of its `docker save` tarball travels peer to
// peer: the executor fetches it over bitswap, loads it and runs it.
func TestDockerJobByImageCID(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a docker image")
	}
	tar := dockerImageTar(t)
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
	// A holds the image; the job must run on B, which has to fetch it.
	img := addQ(t, a, tar)
	j, err := runJSON(t, a, "run", "docker", "--image-cid", img, "--label", "role=worker", "--name", "docker-e2e", "--", "1s")
	if err != nil {
		t.Fatalf("docker job: %v", err)
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Executor != b.ID {
		t.Fatalf("docker job: %s on %+v", j.State, j.Receipts)
	}
	out, err := a.Run("job", "logs", j.ID)
	if err != nil || !strings.Contains(out, "done") {
		t.Fatalf("job logs: %q %v", out, err)
	}
	got := filepath.Join(t.TempDir(), "out")
	if _, err := a.Run("job", "get", j.ID, "-o", got); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(got, "done")); err != nil || string(b) != "done\n" {
		t.Fatalf("outputs: %q %v", b, err)
	}
}

// A spec published by one node can be run by another by its CID alone.
func TestJobRunByCID(t *testing.T) {
	ds := jobNet(t, 2)
	a, b := ds[0], ds[1]
	hello := testnet.WasmModule(t, "examples/hello")
	mod := addQ(t, a, hello)
	res, err := a.Client.Submit(context.Background(), []byte(fmt.Sprintf("name: by-cid\nengine:\n  wasm:\n    module: %s\n    args: [\"cid\"]\n", mod)), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.Events(context.Background(), res.ID, nil); err != nil {
		t.Fatal(err)
	}
	j, err := runJSON(t, b, "job", "run", "--cid", res.ID)
	if err != nil || j.ID != res.ID || j.State != api.JobCompleted {
		t.Fatalf("job run --cid on another node: %v %+v", err, j)
	}
}
