package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/internal/untar"
)

// LabelRole is "keeper" on the container that keeps a run's outputs volume
// mounted; the job's own container does not carry it.
const LabelRole = "shoal.role"

// Paths inside the keeper container.
const (
	keeperBinary  = "/.shoal-keeper"
	keeperOutputs = "/outputs"
)

// keeperMemory is the memory limit of a keeper (the engine's minimum is
// 6 MiB; the keeper is a 148-byte program).
const keeperMemory = 8 << 20

// pageSize is the unit a tmpfs allocates in.
const pageSize = 4096

// outputs is a run's outputs volume, when the host cannot mount the
// outputs itself (see [hostTmpfs]): a tmpfs of the local driver, sized to
// the task's disk limit, mounted in the job's container at the outputs path
// and in a keeper container that outlives it.
//
// The local driver unmounts a tmpfs volume (and its files are gone) when no
// running container uses it, and the engine cannot copy out of a tmpfs
// mount of a stopped container; so a keeper, running a program that waits
// forever ([pauseELF], bind-mounted into the job's own image), holds the
// volume until its files are copied into Task.OutputsDir.
type outputs struct {
	volume string
	keeper string // the keeper container's ID
	limit  int64  // the disk limit; the tmpfs is one page larger
}

var numericUser = regexp.MustCompile(`^([0-9]+)(?::([0-9]+))?$`)

// createOutputs creates the outputs volume of t and starts its keeper from
// image. On error, what it created is removed.
func (e *Executor) createOutputs(ctx context.Context, t *exec.Task, image, name string, labels map[string]string) (o *outputs, err error) {
	limit := t.Limits.DiskOrDefault()
	opts := tmpfsOptions(limit, e.cfg.user)
	o = &outputs{volume: name + "-outputs", limit: limit}
	e.track(o.volume, true) // kept by ReapOrphans
	if _, err := e.cli.VolumeCreate(ctx, client.VolumeCreateOptions{
		Name: o.volume, Driver: "local", Labels: labels,
		DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": opts},
	}); err != nil {
		return nil, engineErr("create outputs volume", err)
	}
	defer func() {
		if err != nil {
			e.removeOutputs(o, e.log)
		}
	}()
	keeperLabels := map[string]string{LabelRole: "keeper"}
	for k, v := range labels {
		keeperLabels[k] = v
	}
	pids := int64(4)
	e.track(name+"-keeper", true) // kept by ReapOrphans, even before it has an ID
	defer e.track(name+"-keeper", false)
	created, err := e.createContainer(ctx, client.ContainerCreateOptions{
		Name: name + "-keeper",
		Config: &container.Config{
			Image: image, Entrypoint: []string{keeperBinary}, User: e.cfg.user, Labels: keeperLabels,
		},
		HostConfig: &container.HostConfig{
			NetworkMode:    "none",
			CapDrop:        []string{"ALL"},
			SecurityOpt:    []string{"no-new-privileges"},
			ReadonlyRootfs: true,
			LogConfig:      container.LogConfig{Type: "none"},
			Resources:      container.Resources{Memory: keeperMemory, MemorySwap: keeperMemory, PidsLimit: &pids},
			Mounts: []mount.Mount{
				{Type: mount.TypeBind, Source: e.pause, Target: keeperBinary, ReadOnly: true},
				{Type: mount.TypeVolume, Source: o.volume, Target: keeperOutputs},
			},
		},
	})
	if err != nil {
		return o, engineErr("create outputs keeper", err)
	}
	o.keeper = created.ID
	e.track(o.keeper, true)
	if _, err := e.cli.ContainerStart(ctx, o.keeper, client.ContainerStartOptions{}); err != nil {
		return o, engineErr("start outputs keeper", err)
	}
	return o, nil
}

// keeperLost returns an error when o's keeper is not running. The volume
// is a tmpfs that the engine unmounts, its files gone, when the last
// container using it stops, and a stopped keeper does not start again: a
// keeper still running after the copy kept the job's files through the run
// and the copy; one that is not means the copy may have found the volume
// empty. The run then fails rather than return no outputs.
func (e *Executor) keeperLost(ctx context.Context, o *outputs) error {
	insp, err := e.cli.ContainerInspect(ctx, o.keeper, client.ContainerInspectOptions{})
	if err != nil {
		return engineErr("inspect outputs keeper", err)
	}
	if st := insp.Container.State; st == nil || !st.Running {
		why := "no state"
		if st != nil {
			why = fmt.Sprintf("status %s, exit code %d, OOM-killed %v, error %q", st.Status, st.ExitCode, st.OOMKilled, st.Error)
		}
		return fmt.Errorf("%w: the outputs were lost: their keeper container %s stopped during the run (%s)", exec.ErrEngineUnavailable, shortID(o.keeper), why)
	}
	return nil
}

// tmpfsOptions returns the mount options of an outputs tmpfs of limit
// bytes, owned by user when it is numeric (else writable by all, sticky).
func tmpfsOptions(limit int64, user string) string {
	size := (limit+pageSize-1)/pageSize*pageSize + pageSize // one page more: a job that fills it wrote more than limit
	opts := fmt.Sprintf("size=%d,nr_inodes=%d", size, max(1024, limit/pageSize))
	if m := numericUser.FindStringSubmatch(user); m != nil {
		opts += ",mode=0755,uid=" + m[1]
		if m[2] != "" {
			opts += ",gid=" + m[2]
		}
	} else {
		opts += ",mode=1777"
	}
	return opts
}

// mount returns the mount of the volume at target in the job's container.
func (o *outputs) mount(target string) mount.Mount {
	return mount.Mount{Type: mount.TypeVolume, Source: o.volume, Target: target}
}

// copyOut copies the files of the outputs volume into dir, through an
// os.Root with untar's checks (nothing is written outside dir or through a
// symlink, every entry created new, hard links kept as links, modes kept
// up to 0755, FIFOs and devices skipped), and returns an error wrapping
// [exec.ErrDiskLimit] when the job filled the volume beyond its limit.
func (e *Executor) copyOut(ctx context.Context, o *outputs, dir string) error {
	res, err := e.cli.CopyFromContainer(ctx, o.keeper, client.CopyFromContainerOptions{SourcePath: keeperOutputs + "/."})
	if err != nil {
		return engineErr("copy outputs", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		res.Content.Close()
		return fmt.Errorf("outputs dir: %w", err)
	}
	defer root.Close()
	err = untar.ExtractTo(root, res.Content, untar.Options{
		KeepModes: true, HardLinks: true, SkipSpecial: true,
		// The files' pages, as the tmpfs counts them: past the limit the
		// job's writes failed with ENOSPC (the tmpfs is one page larger).
		MaxBytes: o.limit, BlockSize: pageSize,
	})
	// Closed before the inspection: the engine holds the container while
	// it streams the archive, and would answer only when the copy ends.
	res.Content.Close()
	if lost := e.keeperLost(ctx, o); lost != nil {
		return lost
	}
	if errors.Is(err, untar.ErrTooLarge) {
		return fmt.Errorf("%w: the job wrote more than its disk limit of %d bytes to its outputs (writes beyond it failed with ENOSPC)", exec.ErrDiskLimit, o.limit)
	}
	if err != nil {
		return fmt.Errorf("copy outputs: %w", err)
	}
	return nil
}

// removeOutputs removes the keeper and the volume, under a fresh context.
func (e *Executor) removeOutputs(o *outputs, log *slog.Logger) {
	if o == nil {
		return
	}
	defer e.track(o.volume, false)
	if o.keeper != "" {
		e.remove(o.keeper, log)
		e.track(o.keeper, false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := e.cli.VolumeRemove(ctx, o.volume, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		log.Warn("remove outputs volume; ReapOrphans will retry", "volume", o.volume, "err", err)
	}
}
