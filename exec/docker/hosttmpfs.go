package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/shoalnet/shoal/exec"
)

// MountSource is the source (device) name of the outputs tmpfs the
// executor mounts on the host, followed by ":" and the instance with
// [WithInstance]; it is how [Executor.ReapOrphans] and the watchdog tell
// them from other mounts in /proc/self/mountinfo.
const MountSource = "shoal-outputs"

// probeName is the file whose presence in a tmpfs tells that the engine
// sees it (see engineSees).
const probeName = ".shoal-probe"

// hostTmpfs is a run's outputs as a tmpfs of the disk limit that the
// executor mounted on the host, at a new directory beside OutputsDir, and
// bind-mounted into the job's container: no keeper, no volume, and the
// files are read from the host after the exit. It needs CAP_SYS_ADMIN and
// an engine in this process's mount namespace (or one it propagates to);
// without them the run falls back to [outputs], the volume and its keeper.
//
// The publisher reads OutputsDir after Run returns, so the files are
// copied (at most the limit, on the node's disk) into OutputsDir and the
// tmpfs unmounted before Run returns: OutputsDir is never a mount point
// and nothing is left mounted once Run returned.
type hostTmpfs struct {
	dir   string // the mount point
	limit int64
}

// mountSource returns the source of this executor's outputs tmpfs.
func (e *Executor) mountSource() string {
	if e.cfg.instance == "" {
		return MountSource
	}
	return MountSource + ":" + e.cfg.instance
}

// mountOutputs mounts the outputs tmpfs of t beside outDir (an absolute
// path without symlinks, see mounts). It returns nil, nil when the host
// cannot hold the outputs (no permission to mount, or the engine does not
// see the mount): the caller then uses the keeper.
func (e *Executor) mountOutputs(ctx context.Context, t *exec.Task, image, outDir, name string, labels map[string]string) (*hostTmpfs, error) {
	if e.cfg.outputsVolume || e.noMount.Load() {
		return nil, nil
	}
	limit := t.Limits.DiskOrDefault()
	dir, err := os.MkdirTemp(filepath.Dir(outDir), "."+filepath.Base(outDir)+".tmpfs-")
	if err != nil {
		return nil, fmt.Errorf("outputs tmpfs: %w", err)
	}
	e.track(dir, true) // kept by ReapOrphans
	err = unix.Mount(e.mountSource(), dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, tmpfsOptions(limit, e.cfg.user))
	if err != nil {
		os.Remove(dir)
		e.track(dir, false)
		if e.noMount.CompareAndSwap(false, true) {
			e.log.Info("cannot mount the outputs tmpfs on the host; outputs go through a volume and a keeper container (+0.4 s a run)", "err", err)
		}
		return nil, nil
	}
	h := &hostTmpfs{dir: dir, limit: limit}
	sees, err := e.engineSees(ctx, image, dir, name, labels)
	if err != nil && ctx.Err() == nil && !errors.Is(err, exec.ErrImageNotFound) {
		// A probe the engine failed (it answered 500 to a stat while other
		// containers were being removed, under load) says nothing of the
		// mount: this run takes the keeper, the next one probes again.
		e.log.Warn("outputs tmpfs probe failed; this run's outputs go through a volume and a keeper container", "err", err)
		sees, err = false, nil
	}
	if err != nil || !sees {
		e.unmount(h, e.log)
		return nil, err
	}
	return h, nil
}

// engineSees reports whether the engine sees the tmpfs mounted at dir: it
// does not when this process has a mount namespace of its own whose mounts
// do not reach the engine's (a container given the engine's socket, a
// systemd unit with PrivateTmp or ProtectSystem), and the job would then
// write to the directory below the mount, unbounded. A probe container
// (created, never started) binds dir and the engine is asked for a file
// of the tmpfs; the answer is kept per mount of dir's parent.
func (e *Executor) engineSees(ctx context.Context, image, dir, name string, labels map[string]string) (bool, error) {
	var stx unix.Statx_t
	key := uint64(0)
	if err := unix.Statx(unix.AT_FDCWD, filepath.Dir(dir), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err == nil {
		key = stx.Mnt_id
		if stx.Mask&unix.STATX_MNT_ID == 0 { // before Linux 5.8: the filesystem
			key = 1<<63 | uint64(stx.Dev_major)<<32 | uint64(stx.Dev_minor)
		}
	}
	e.seesMu.Lock()
	defer e.seesMu.Unlock()
	if sees, ok := e.sees[key]; ok {
		return sees, nil
	}
	if err := os.WriteFile(filepath.Join(dir, probeName), nil, 0o600); err != nil {
		return false, fmt.Errorf("outputs tmpfs: %w", err)
	}
	defer os.Remove(filepath.Join(dir, probeName))
	const target = "/.shoal-outputs"
	probeLabels := maps.Clone(labels)
	probeLabels[LabelRole] = "probe"
	e.track(name+"-probe", true) // kept by ReapOrphans, even before it has an ID
	defer e.track(name+"-probe", false)
	created, err := e.createContainer(ctx, client.ContainerCreateOptions{
		Name: name + "-probe",
		Config: &container.Config{
			Image: image, Entrypoint: []string{"/.shoal-probe"}, Labels: probeLabels,
		},
		HostConfig: &container.HostConfig{
			NetworkMode: "none",
			LogConfig:   container.LogConfig{Type: "none"},
			Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: dir, Target: target, ReadOnly: true}},
		},
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			err = fmt.Errorf("%w: %q: %w", exec.ErrImageNotFound, image, err)
		}
		return false, engineErr("create outputs probe", err)
	}
	e.track(created.ID, true)
	defer func() {
		e.remove(created.ID, e.log)
		e.track(created.ID, false)
	}()
	_, err = e.cli.ContainerStatPath(ctx, created.ID, client.ContainerStatPathOptions{Path: target + "/" + probeName})
	if cerrdefs.IsNotFound(err) {
		// Not the file, or not the container (removed meanwhile)? The
		// mount point is there in both views.
		if _, err := e.cli.ContainerStatPath(ctx, created.ID, client.ContainerStatPathOptions{Path: target}); err != nil {
			return false, engineErr("probe outputs tmpfs", err)
		}
		e.sees[key] = false
		e.log.Warn("the engine does not see the mounts of this process (another mount namespace); outputs go through a volume and a keeper container (+0.4 s a run)",
			"dir", filepath.Dir(dir))
		return false, nil
	}
	if err != nil {
		return false, engineErr("probe outputs tmpfs", err)
	}
	e.sees[key] = true
	return true, nil
}

// mount returns the bind mount of the tmpfs at target in the job's
// container.
func (h *hostTmpfs) mount(target string) mount.Mount {
	return mount.Mount{Type: mount.TypeBind, Source: h.dir, Target: target}
}

// copyOut copies the files of the tmpfs into dir, through two os.Roots
// (nothing read or written outside them, no symlink followed, O_EXCL, hard
// links kept as links), and returns an error wrapping [exec.ErrDiskLimit]
// when the job filled the tmpfs beyond its limit.
func (h *hostTmpfs) copyOut(dir string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(h.dir, &sfs); err != nil {
		return fmt.Errorf("outputs tmpfs: %w", err)
	}
	used := int64(sfs.Blocks-sfs.Bfree) * sfs.Bsize
	src, err := os.OpenRoot(h.dir)
	if err != nil {
		return fmt.Errorf("outputs tmpfs: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("outputs dir: %w", err)
	}
	defer dst.Close()
	if err := copyTree(src, dst, h.limit+pageSize); err != nil {
		return fmt.Errorf("copy outputs: %w", err)
	}
	if used > h.limit {
		return fmt.Errorf("%w: the job wrote more than its disk limit of %d bytes to its outputs (writes beyond it failed with ENOSPC)", exec.ErrDiskLimit, h.limit)
	}
	return nil
}

// copyTree copies the tree of src into dst, at most budget bytes of
// regular files (in pages; a hard link counts once). Only directories,
// regular files and symlinks are copied.
func copyTree(src, dst *os.Root, budget int64) error {
	links := map[uint64]string{} // inode → first name, for files with hard links
	var used int64
	return fs.WalkDir(src.FS(), ".", func(name string, _ fs.DirEntry, err error) error {
		if err != nil || name == "." {
			return err
		}
		info, err := src.Lstat(name)
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			return dst.Mkdir(name, 0o755)
		case mode&fs.ModeSymlink != 0:
			target, err := src.Readlink(name)
			if err != nil {
				return err
			}
			return dst.Symlink(target, name)
		case mode.IsRegular():
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				if first, ok := links[st.Ino]; ok {
					return dst.Link(first, name)
				}
				links[st.Ino] = name
			}
			used += (info.Size() + pageSize - 1) / pageSize * pageSize
			if used > budget {
				return fs.SkipAll // over the limit: the caller reports it
			}
			return copyFile(src, dst, name, info)
		}
		return nil
	})
}

func copyFile(src, dst *os.Root, name string, info fs.FileInfo) error {
	in, err := src.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm()&0o755|0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyN(out, in, info.Size())
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// unmount unmounts the tmpfs and removes its mount point.
func (e *Executor) unmount(h *hostTmpfs, log *slog.Logger) {
	if h == nil {
		return
	}
	defer e.track(h.dir, false)
	if err := unmountDir(h.dir); err != nil {
		log.Warn("unmount outputs tmpfs; ReapOrphans will retry", "dir", h.dir, "err", err)
	}
}

// unmountDir unmounts the tmpfs at dir (lazily if it is busy) and removes
// the directory.
func unmountDir(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: not a mount point (any more)
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
