package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
)

// mounts returns the bind mounts of t, checking that the sources exist and
// creating the outputs directory.
//
// dockerd resolves a bind source on the host, following symlinks, so a
// source that is a symlink (an input whose root a requester made a symlink
// to "/") would show the host to the job. [noSymlinkPath] refuses that and
// hands dockerd a path without a symlink in it. The directories above a
// source are the node's own (its work directory), and nothing the job
// controls runs before the container starts, so the path cannot change
// between the check and the mount. Symlinks inside an input directory are
// not followed by dockerd: they resolve inside the container, against its
// own root.
func mounts(t *exec.Task) ([]mount.Mount, error) {
	var ms []mount.Mount
	for _, in := range t.Inputs {
		src, st, err := noSymlinkPath(in.Source)
		if err != nil {
			return nil, fmt.Errorf("%w: input %s: %w", exec.ErrInvalidTask, in.Source, err)
		}
		if !st.IsDir() && !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: input %s is neither a directory nor a regular file", exec.ErrInvalidTask, in.Source)
		}
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: src, Target: in.Target, ReadOnly: true})
	}
	if t.OutputsDir != "" {
		if err := os.MkdirAll(t.OutputsDir, 0o755); err != nil {
			return nil, fmt.Errorf("outputs dir: %w", err)
		}
		out, st, err := noSymlinkPath(t.OutputsDir)
		if err != nil {
			return nil, fmt.Errorf("%w: outputs dir %s: %w", exec.ErrInvalidTask, t.OutputsDir, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%w: outputs dir %s is not a directory", exec.ErrInvalidTask, t.OutputsDir)
		}
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: out, Target: t.OutputsTarget()})
	}
	return ms, nil
}

// ErrSymlink reports a mount source (an input, the outputs directory) or an
// image tarball that is a symlink; Run wraps it with [exec.ErrInvalidTask].
var ErrSymlink = errors.New("docker: a symlink is refused (the engine would follow it on the host); give a directory or a regular file")

// noSymlinkPath returns p made absolute and its Lstat. It refuses a p that
// is a symlink or lies under one, component by component (as the wasm
// engine does): a node whose work directory sits under a symlink must give
// its resolved path.
func noSymlinkPath(p string) (string, os.FileInfo, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", nil, err
	}
	parent := filepath.Dir(abs)
	st, err := os.Lstat(abs)
	if err != nil {
		return "", nil, err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return "", nil, fmt.Errorf("%w: %s", ErrSymlink, abs)
	}
	for d := parent; ; d = filepath.Dir(d) {
		dst, err := os.Lstat(d)
		if err != nil {
			return "", nil, err
		}
		if dst.Mode()&os.ModeSymlink != 0 {
			return "", nil, fmt.Errorf("%w: %s (a parent of %s)", ErrSymlink, d, abs)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return abs, st, nil
}

// containerConfig returns the container and host configuration of t.
func (e *Executor) containerConfig(t *exec.Task, image string, ms []mount.Mount) (*container.Config, *container.HostConfig) {
	env := make([]string, 0, len(t.Env))
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		env = append(env, k+"="+t.Env[k])
	}
	labels := e.labels(t)
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
		// The root filesystem is read-only; /tmp is a tmpfs of the disk
		// limit (counted in the memory limit), so no write reaches the
		// engine's disk.
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,mode=1777,size=%d", t.Limits.DiskOrDefault())},
		NetworkMode:    "none",
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Mounts:         ms,
		LogConfig:      container.LogConfig{Type: "none"},
		Resources: container.Resources{
			NanoCPUs:   int64(t.Limits.CPU * 1e9),
			Memory:     mem,
			MemorySwap: mem, // memory + swap = memory: no swap
			PidsLimit:  &pids,
		},
	}
	return cfg, host
}

// labels returns the labels of the containers and volumes of t.
func (e *Executor) labels(t *exec.Task) map[string]string {
	labels := map[string]string{LabelManaged: "true", LabelTask: t.ID}
	if e.cfg.instance != "" {
		labels[LabelInstance] = e.cfg.instance
	}
	return labels
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

// createTimeout bounds one container create, which is not cancelled midway.
const createTimeout = 30 * time.Second

// createContainer creates a container without cancelling the create
// midway: a create the engine finishes after the client gave up would
// leave a container that a remove sent before it cannot find (seen as
// "Created" leftovers of cancelled runs). A cancel of ctx is honoured once
// the create has answered: the container is removed and ctx's error
// returned.
func (e *Executor) createContainer(ctx context.Context, opts client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	created, err := e.cli.ContainerCreate(cctx, opts)
	switch {
	case err != nil && cctx.Err() != nil:
		// Timed out: the engine may still create it.
		e.remove(opts.Name, e.log)
	case err == nil && ctx.Err() != nil:
		e.remove(created.ID, e.log)
		return client.ContainerCreateResult{}, ctx.Err()
	}
	return created, err
}
