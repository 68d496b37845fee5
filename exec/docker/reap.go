package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ReapOrphans force-removes the containers this executor's node left
// behind: those labelled LabelManaged=true and, with WithInstance, this
// instance; then the outputs volumes so labelled that no container uses;
// then it unmounts the outputs tmpfs mounts of this instance (see
// [MountSource]; all of them without WithInstance) that a dead process
// left in this mount namespace. Containers (by ID or name), volumes and
// mounts of runs in progress on this executor are kept. The node calls it
// at start. It returns how many containers it removed.
func (e *Executor) ReapOrphans(ctx context.Context) (int, error) {
	f := client.Filters{}.Add("label", LabelManaged+"=true")
	if e.cfg.instance != "" {
		f.Add("label", LabelInstance+"="+e.cfg.instance)
	}
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("docker: reap orphans: %w", engineErr("list containers", err))
	}
	var (
		n    int
		errs []error
	)
	for _, c := range list.Items {
		e.mu.Lock()
		busy := e.active[c.ID]
		for _, name := range c.Names { // a run's container being created has no ID yet
			busy = busy || e.active[strings.TrimPrefix(name, "/")]
		}
		e.mu.Unlock()
		if busy {
			continue
		}
		_, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		switch {
		case err == nil:
			n++
			e.log.Info("removed orphan container", "container", shortID(c.ID), "task", c.Labels[LabelTask])
		case cerrdefs.IsNotFound(err):
		default:
			errs = append(errs, engineErr("remove container "+shortID(c.ID), err))
		}
	}
	vols, err := e.cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		errs = append(errs, engineErr("list volumes", err))
	}
	for _, v := range vols.Items {
		e.mu.Lock()
		busy := e.active[v.Name]
		e.mu.Unlock()
		if busy {
			continue
		}
		_, err := e.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{})
		switch {
		case err == nil:
			e.log.Info("removed orphan outputs volume", "volume", v.Name, "task", v.Labels[LabelTask])
		case cerrdefs.IsNotFound(err), cerrdefs.IsConflict(err): // gone, or in use by a container kept above
		default:
			errs = append(errs, engineErr("remove volume "+v.Name, err))
		}
	}
	if err := e.reapMounts(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("docker: reap orphans: %w", err)
	}
	return n, nil
}

func shortID(id string) string { return id[:min(len(id), 12)] }

// reapMounts unmounts the outputs tmpfs mounts of this instance that no run
// of this executor uses.
func (e *Executor) reapMounts() error {
	ms, err := outputsMounts(e.cfg.instance)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		e.mu.Lock()
		busy := e.active[m.point]
		e.mu.Unlock()
		if busy {
			continue
		}
		if err := unmountDir(m.point); err != nil {
			errs = append(errs, fmt.Errorf("unmount outputs tmpfs %s: %w", m.point, err))
			continue
		}
		e.log.Info("unmounted orphan outputs tmpfs", "dir", m.point)
	}
	return errors.Join(errs...)
}
