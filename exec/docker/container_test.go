package docker

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"

	"github.com/shoalnet/shoal/exec"
)

// TestContainerConfig checks the sandbox settings without an engine.
func TestContainerConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), nil, 0o644)
	out := filepath.Join(dir, "out")
	tk := &exec.Task{
		ID:         "job-1",
		Docker:     &exec.DockerSpec{Image: "img:1", Entrypoint: []string{}},
		Args:       []string{"a", "b"},
		Env:        map[string]string{"B": "2", "A": "1"},
		Inputs:     []exec.Mount{{Source: dir, Target: "/in"}, {Source: filepath.Join(dir, "f.txt"), Target: "/f.txt"}},
		OutputsDir: out,
		Limits:     exec.Limits{CPU: 1.5, MemoryBytes: 256 << 20, Pids: 64},
	}
	ms, err := mounts(tk)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(out); err != nil || !st.IsDir() {
		t.Errorf("outputs dir not created: %v", err)
	}
	want := []mount.Mount{
		{Type: mount.TypeBind, Source: dir, Target: "/in", ReadOnly: true},
		{Type: mount.TypeBind, Source: filepath.Join(dir, "f.txt"), Target: "/f.txt", ReadOnly: true},
		{Type: mount.TypeBind, Source: out, Target: "/outputs"},
	}
	if !slices.Equal(ms, want) {
		t.Errorf("mounts = %+v, want %+v", ms, want)
	}

	e := &Executor{cfg: config{user: "1000:1000", instance: "node-a", log: slog.Default()}}
	cfg, host := e.containerConfig(tk, "img:1", ms)
	checks := []struct {
		name string
		ok   bool
	}{
		{"image", cfg.Image == "img:1"},
		{"cmd", slices.Equal(cfg.Cmd, []string{"a", "b"})},
		{"entrypoint kept", cfg.Entrypoint == nil},
		{"env sorted", slices.Equal(cfg.Env, []string{"A=1", "B=2"})},
		{"user", cfg.User == "1000:1000"},
		{"labels", cfg.Labels[LabelManaged] == "true" && cfg.Labels[LabelTask] == "job-1" && cfg.Labels[LabelInstance] == "node-a"},
		{"no stdin", !cfg.OpenStdin && !cfg.AttachStdin},
		{"network none", host.NetworkMode == "none"},
		{"caps dropped", slices.Equal(host.CapDrop, []string{"ALL"})},
		{"no new privileges", slices.Contains(host.SecurityOpt, "no-new-privileges")},
		{"no privileged", !host.Privileged},
		{"no log driver", host.LogConfig.Type == "none"},
		{"cpu", host.NanoCPUs == 1_500_000_000},
		{"memory, no swap", host.Memory == 256<<20 && host.MemorySwap == 256<<20},
		{"pids", host.PidsLimit != nil && *host.PidsLimit == 64},
		{"no auto remove", !host.AutoRemove},
		{"read-only rootfs", host.ReadonlyRootfs},
		{"tmp sized to the disk limit", strings.Contains(host.Tmpfs["/tmp"], fmt.Sprintf("size=%d", exec.DefaultDiskBytes))},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: config %+v, host %+v", c.name, cfg, host)
		}
	}

	tk.Limits = exec.Limits{}
	tk.Stdin = strings.NewReader("x")
	cfg, host = e.containerConfig(tk, "img:1", nil)
	if host.Memory != exec.DefaultMemoryBytes || *host.PidsLimit != exec.DefaultPids || host.NanoCPUs != 0 {
		t.Errorf("defaults: memory %d, pids %d, cpu %d", host.Memory, *host.PidsLimit, host.NanoCPUs)
	}
	if !cfg.OpenStdin || !cfg.StdinOnce || !cfg.AttachStdin {
		t.Errorf("stdin not opened for a task with Stdin")
	}
}

func TestContainerName(t *testing.T) {
	valid := regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	for _, id := range []string{"", "job-1", "bafy/ü z", strings.Repeat("x", 200)} {
		a, b := containerName(id), containerName(id)
		if !valid.MatchString(a) || len(a) > 90 || a == b {
			t.Errorf("containerName(%q) = %q, %q: want valid, short and unique", id, a, b)
		}
	}
}

func TestParseLoad(t *testing.T) {
	refs, err := parseLoad(strings.NewReader(`{"stream":"Loaded image: a/b:1\n"}{"stream":"Loaded image ID: sha256:abc\n"}`))
	if err != nil || !slices.Equal(refs, []string{"a/b:1", "sha256:abc"}) {
		t.Errorf("parseLoad = %v, %v", refs, err)
	}
	if _, err := parseLoad(strings.NewReader(`{"errorDetail":{"message":"bad tar"},"error":"bad tar"}`)); err == nil || err.Error() != "bad tar" {
		t.Errorf("parseLoad error = %v, want bad tar", err)
	}
}
