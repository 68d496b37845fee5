package docker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
	"github.com/shoalnet/shoal/exec/exectest"
	"github.com/shoalnet/shoal/exec/internal/testprog"
	"github.com/shoalnet/shoal/exec/internal/testprog/testimage"
)

var (
	// image is the conformance program's image, built once per test binary;
	// empty when the tests cannot use an engine, for the reason in noEngine.
	image    string
	noEngine string
	cli      *client.Client
	// instance labels this test binary's containers.
	instance = "test-" + randomHex(6)
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == docker.WatchdogCommand { // this binary as a run's watchdog
		if err := docker.RunWatchdog(os.Args[2:], os.Stdin); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(crashEnv) != "" { // this binary as an executor that a test kills
		os.Exit(crashExecutor())
	}
	flag.Parse()
	os.Exit(func() int {
		defer testprog.Cleanup()
		ctx := context.Background()
		switch {
		case testing.Short():
			noEngine = "the Docker tests do not run in -short mode"
			return m.Run()
		case !docker.Available(ctx):
			noEngine = "no Docker Engine answers a ping (start dockerd or set DOCKER_HOST)"
			return m.Run()
		}
		var err error
		if cli, err = client.New(client.FromEnv); err != nil {
			fmt.Fprintln(os.Stderr, "docker client:", err)
			return 1
		}
		defer cli.Close()
		bin, err := testprog.BuildErr(testprog.Prog, "linux", runtime.GOARCH)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if image, err = testimage.Build(ctx, cli, "prog", bin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer testimage.Remove(context.Background(), cli, image)
		return m.Run()
	}())
}

// requireDocker skips the test when no engine is usable, or fails it when
// CI=true (unless in -short mode, which never runs them).
func requireDocker(t testing.TB) {
	t.Helper()
	if image != "" {
		return
	}
	if os.Getenv("CI") == "true" && !testing.Short() {
		t.Fatalf("CI=true requires the Docker Engine: %s", noEngine)
	}
	t.Skipf("skipping: %s; with CI=true this fails instead", noEngine)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newExecutor(t testing.TB, opts ...docker.Option) *docker.Executor {
	t.Helper()
	requireDocker(t)
	x, err := docker.New(context.Background(), append([]docker.Option{docker.WithInstance(instance)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func progTask(id string, args ...string) *exec.Task {
	return &exec.Task{ID: id, Docker: &exec.DockerSpec{Image: image}, Args: args}
}

func conformanceHarness() exectest.Harness {
	return exectest.Harness{
		New: func(t *testing.T) exec.Executor { return newExecutor(t) },
		Program: func(t *testing.T) *exec.Task {
			return &exec.Task{Docker: &exec.DockerSpec{Image: image}}
		},
	}
}

func TestConformance(t *testing.T) {
	requireDocker(t)
	exectest.Run(t, conformanceHarness())
}

// TestSymlinkInputsConformance runs the engines' shared symlink cases.
func TestSymlinkInputsConformance(t *testing.T) {
	requireDocker(t)
	exectest.RunSymlinkInputs(t, conformanceHarness())
}

// containers lists the containers, running or not, labelled with key=value.
func containers(t *testing.T, key, value string) []container.Summary {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: client.Filters{}.Add("label", key+"="+value),
	})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestForkBombStoppedByPidsLimit(t *testing.T) {
	x := newExecutor(t)
	tk := progTask("forkbomb-"+randomHex(4), "forkbomb")
	tk.Limits.Pids = 32
	tk.Timeout = time.Minute
	res, err := x.Run(context.Background(), tk)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("exit %d\nstdout: %s\nstderr: %.300s", res.ExitCode, res.Stdout, res.Stderr)
	if res.ExitCode == 0 {
		t.Fatalf("the fork bomb exited 0: %s", res.Stdout)
	}
	out := string(res.Stdout) + string(res.Stderr)
	if !strings.Contains(out, "fork error") && !strings.Contains(out, "resource temporarily unavailable") &&
		!strings.Contains(out, "failed to create new OS thread") {
		t.Errorf("no sign of the pids limit in the output")
	}
	if got := containers(t, docker.LabelTask, tk.ID); len(got) != 0 {
		t.Errorf("%d containers left", len(got))
	}
}

func TestMissingImage(t *testing.T) {
	x := newExecutor(t)
	const missing = "shoal-test/does-not-exist:nope"
	res, err := x.Run(context.Background(), &exec.Task{ID: "missing", Docker: &exec.DockerSpec{Image: missing}})
	if !errors.Is(err, exec.ErrImageNotFound) || res != nil {
		t.Fatalf("Run = %v, %v; want nil, ErrImageNotFound", res, err)
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name the image", err)
	}
	_, err = x.Run(context.Background(), &exec.Task{Docker: &exec.DockerSpec{Image: missing, ImageTar: filepath.Join(t.TempDir(), "nope.tar")}})
	if !errors.Is(err, exec.ErrImageNotFound) {
		t.Errorf("missing tarball: error = %v, want ErrImageNotFound", err)
	}
}

func TestContainerRemoved(t *testing.T) {
	x := newExecutor(t)
	for _, c := range []struct {
		name    string
		args    []string
		timeout time.Duration
		cancel  bool
		wantErr error
	}{
		{"success", []string{"hello"}, 0, false, nil},
		{"failure", []string{"exit", "3"}, 0, false, nil},
		{"timeout", []string{"spin"}, time.Second, false, exec.ErrTimeout},
		{"cancel", []string{"sleep", "1h"}, 0, true, exec.ErrKilled},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := progTask(c.name+"-"+randomHex(4), c.args...)
			tk.Timeout = c.timeout
			ctx := context.Background()
			if c.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(time.Second, cancel)
			}
			if _, err := x.Run(ctx, tk); !errors.Is(err, c.wantErr) {
				t.Fatalf("Run error = %v, want %v", err, c.wantErr)
			}
			if got := containers(t, docker.LabelTask, tk.ID); len(got) != 0 {
				t.Errorf("%d containers left with %s=%s: %+v", len(got), docker.LabelTask, tk.ID, got)
			}
		})
	}
}

func TestReapOrphans(t *testing.T) {
	inst := "reap-" + randomHex(4)
	x := newExecutor(t, docker.WithInstance(inst))
	ctx := context.Background()
	create := func(instance string, start bool) string {
		t.Helper()
		c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{
				Image:  image,
				Cmd:    []string{"sleep", "1h"},
				Labels: map[string]string{docker.LabelManaged: "true", docker.LabelInstance: instance, docker.LabelTask: "orphan"},
			},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
		})
		if start {
			if _, err := cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return c.ID
	}
	create(inst, true)  // a running orphan of this node
	create(inst, false) // a created, never started one
	other := "other-" + randomHex(4)
	create(other, false) // another node's

	n, err := x.ReapOrphans(ctx)
	if err != nil || n != 2 {
		t.Fatalf("ReapOrphans = %d, %v; want 2, nil", n, err)
	}
	if got := containers(t, docker.LabelInstance, inst); len(got) != 0 {
		t.Errorf("%d orphans left", len(got))
	}
	if got := containers(t, docker.LabelInstance, other); len(got) != 1 {
		t.Errorf("another instance's container was removed (%d left, want 1)", len(got))
	}
}

func TestImageTar(t *testing.T) {
	x := newExecutor(t)
	ctx := context.Background()
	// A second tag of the test image, saved, then removed from the engine.
	tag := "shoal-test/tarred:" + randomHex(6)
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: image, Target: tag}); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	save, err := cli.ImageSave(ctx, []string{tag})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, save); err != nil {
		t.Fatal(err)
	}
	save.Close()
	f.Close()
	untag := func() {
		cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{})
	}
	untag()
	t.Cleanup(untag)
	t.Cleanup(func() { untagLoaded(imageIDOf(t, image)) })

	for _, c := range []struct {
		name string
		spec exec.DockerSpec
	}{
		{"by name", exec.DockerSpec{Image: tag, ImageTar: tarPath}},
		{"tar only", exec.DockerSpec{ImageTar: tarPath}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := x.Run(ctx, &exec.Task{ID: "tar", Docker: &c.spec, Args: []string{"hello"}})
			if err != nil || res.ExitCode != 0 || !bytes.Equal(res.Stdout, []byte("hello from shoal\n")) {
				t.Fatalf("Run = %+v, %v", res, err)
			}
		})
	}
}

func TestEngineUnavailable(t *testing.T) {
	host := "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")
	if docker.Available(context.Background(), client.WithHost(host)) {
		t.Fatal("Available = true for a socket that does not exist")
	}
	_, err := docker.New(context.Background(), docker.WithClientOptions(client.WithHost(host)))
	if !errors.Is(err, exec.ErrEngineUnavailable) {
		t.Fatalf("New error = %v, want ErrEngineUnavailable", err)
	}
}
