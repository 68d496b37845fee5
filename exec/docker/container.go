package docker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/shoalnet/shoal/exec"
)

// mounts returns the bind mounts of t, checking that the sources exist and
// creating the outputs directory.
func mounts(t *exec.Task) ([]mount.Mount, error) {
	var ms []mount.Mount
	for _, in := range t.Inputs {
		src, err := filepath.Abs(in.Source)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.Source, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("%w: input %s: %w", exec.ErrInvalidTask, in.Source, err)
		}
		if !st.IsDir() && !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: input %s is neither a directory nor a regular file", exec.ErrInvalidTask, in.Source)
		}
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: src, Target: in.Target, ReadOnly: true})
	}
	if t.OutputsDir != "" {
		out, err := filepath.Abs(t.OutputsDir)
		if err != nil {
			return nil, fmt.Errorf("outputs dir %s: %w", t.OutputsDir, err)
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("outputs dir: %w", err)
		}
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: out, Target: t.OutputsTarget()})
	}
	return ms, nil
}

// containerConfig returns the container and host configuration of t.
func (e *Executor) containerConfig(t *exec.Task, image string, ms []mount.Mount) (*container.Config, *container.HostConfig) {
	env := make([]string, 0, len(t.Env))
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		env = append(env, k+"="+t.Env[k])
	}
	labels := map[string]string{LabelManaged: "true", LabelTask: t.ID}
	if e.cfg.instance != "" {
		labels[LabelInstance] = e.cfg.instance
	}
	cfg := &container.Config{
		Image:        image,
		Cmd:          t.Args,
		Entrypoint:   t.Docker.Entrypoint,
		Env:          env,
		User:         e.cfg.user,
		Labels:       labels,
		AttachStdout: true,
		AttachStderr: true,
	}
	if t.Stdin != nil {
		cfg.AttachStdin, cfg.OpenStdin, cfg.StdinOnce = true, true, true
	}
	if len(cfg.Cmd) == 0 {
		cfg.Cmd = nil // keep the image's CMD
	}
	if len(cfg.Entrypoint) == 0 {
		cfg.Entrypoint = nil // keep the image's ENTRYPOINT (an empty list would clear it)
	}
	mem := t.Limits.MemoryOrDefault()
	pids := t.Limits.PidsOrDefault()
	host := &container.HostConfig{
		NetworkMode: "none",
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges"},
		Mounts:      ms,
		LogConfig:   container.LogConfig{Type: "none"},
		Resources: container.Resources{
			NanoCPUs:   int64(t.Limits.CPU * 1e9),
			Memory:     mem,
			MemorySwap: mem, // memory + swap = memory: no swap
			PidsLimit:  &pids,
		},
	}
	return cfg, host
}

// containerName returns a unique container name derived from the task ID.
func containerName(taskID string) string {
	var b strings.Builder
	b.WriteString("shoal-")
	for _, r := range taskID {
		if b.Len() >= 70 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if taskID != "" {
		b.WriteByte('-')
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}
