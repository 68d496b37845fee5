package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// exampleTree copies the spec file examples/jobs/NAME into a temporary
// examples/ tree with the local files it names: a module
// examples/X/X.wasm (what `make examples` builds) is built with
// testnet.WasmModule, anything else is copied from the repository. It
// returns the copy's path and the spec.
func exampleTree(t *testing.T, root, name string) (string, *jobspec.Spec) {
	t.Helper()
	repo := moduleRootForTest(t)
	src := filepath.Join(repo, "examples", "jobs", name)
	doc, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(root, "examples", "jobs", name)
	mustWrite(t, dst, doc)
	spec, err := jobspec.ParseWith(doc, src, jobspec.ParseOptions{Local: func(r jobspec.LocalRef) (cid.Cid, error) {
		if filepath.IsAbs(r.Path) {
			t.Fatalf("%s: %s names the absolute path %s: an example must run anywhere", name, r.Field, r.Path)
		}
		rel, err := filepath.Rel(repo, filepath.Join(filepath.Dir(src), r.Path))
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("%s: %s names %s, outside the repository", name, r.Field, r.Path)
		}
		to := filepath.Join(root, rel)
		if pkg := filepath.Dir(rel); strings.HasSuffix(rel, ".wasm") && filepath.Base(rel) == filepath.Base(pkg)+".wasm" {
			b, err := os.ReadFile(testnet.WasmModule(t, filepath.ToSlash(pkg)))
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, to, b)
		} else if out, err := exec.Command("cp", "-R", filepath.Join(repo, rel), to).CombinedOutput(); err != nil {
			t.Fatalf("%s: %s names %s, not in the repository: %v %s", name, r.Field, r.Path, err, out)
		}
		return placeholderCID(to)
	}})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return dst, spec
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every spec in examples/jobs/ runs as written on a fresh node: `shoal job
// run` adds the local files it names and the job completes, with the job
// ID `shoal job validate` computed without adding them.
func TestExampleSpecsRunAsWritten(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join(moduleRootForTest(t), "examples", "jobs", "*.yaml"))
	if err != nil || len(specs) < 4 {
		t.Fatalf("examples/jobs: %v (%d specs)", err, len(specs))
	}
	// The daemons outlive the subtests: they are the parent's.
	parent := t
	var wasmNode, dockerNode *testnet.Daemon
	root := t.TempDir()
	for _, path := range specs {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			file, spec := exampleTree(t, root, name)
			var d *testnet.Daemon
			switch spec.Engine.Kind() {
			case jobspec.EngineDocker:
				dockerPresent(t, spec.Engine.Docker.Image)
				if dockerNode == nil {
					dockerNode = testnet.Start(parent, testnet.Options{Configure: testnet.EditConfig(func(c *node.Config) {
						c.Jobs.BidWindow = node.Duration(time.Second)
					})})
				}
				d = dockerNode
			default:
				if wasmNode == nil {
					wasmNode = jobNetWindow(parent, 1, time.Second)[0]
				}
				d = wasmNode
			}
			want, err := d.Run("job", "validate", "--quiet", file)
			if err != nil {
				t.Fatal(err)
			}
			j, err := runJSON(t, d, "job", "run", file)
			if err != nil {
				t.Fatalf("job run %s: %v", name, err)
			}
			if j.State != api.JobCompleted || len(j.Receipts) == 0 {
				t.Fatalf("%s: job %s %s (%s), %d receipts", name, j.ID, j.State, j.Error, len(j.Receipts))
			}
			for _, r := range j.Receipts {
				if r.ExitCode != 0 {
					t.Fatalf("%s: exit code %d", name, r.ExitCode)
				}
			}
			if got := strings.TrimSpace(want); got != j.ID {
				t.Fatalf("job validate said job ID %s, job run submitted %s", got, j.ID)
			}
			if name == "hello.yaml" {
				out, err := d.Run("job", "logs", j.ID)
				if err != nil || !strings.Contains(out, "hello, Ada Lovelace, from shoal") {
					t.Fatalf("hello's stdout %q (%v)", out, err)
				}
			}
		})
	}
}

// dockerPresent skips the test unless a Docker Engine answers and holds
// image: executors use no registry, and tests pull nothing.
func dockerPresent(t *testing.T, image string) {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker Engine answers: %v", err)
		}
		t.Skipf("no Docker Engine answers (docker info: %v)", err)
	}
	if image == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "image", "inspect", image).Run(); err != nil {
		t.Skipf("the Docker Engine does not hold %s, and tests pull no image: `docker pull %s` to run this example", image, image)
	}
}
