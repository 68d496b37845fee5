package docker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// WatchdogCommand is the argument that selects [RunWatchdog] in the
// command given to [WithWatchdog] (the shoal binary checks for it first).
const WatchdogCommand = "__docker-watchdog"

// WatchdogGrace is how long after a task's Timeout its watchdog removes a
// container that the executor has not: the executor itself kills at the
// Timeout; the watchdog acts only when it could not.
const WatchdogGrace = 5 * time.Second

// WithWatchdog makes every run start a watchdog process, argv followed by
// the watchdog's flags, which must call [RunWatchdog] (shoal passes its own
// executable and [WatchdogCommand]). The watchdog runs in its own session,
// so it outlives the executor's process: it removes the run's containers and
// outputs volume when the executor's process dies (even by SIGKILL: it reads
// a pipe that the kernel then closes), or at the task's Timeout plus
// [WatchdogGrace] if the executor is alive but has not, and exits as soon as
// the run's container is removed. Default: no watchdog, and containers
// outlive a crash until the next ReapOrphans.
func WithWatchdog(argv ...string) Option {
	return func(c *config) error {
		if len(argv) == 0 || argv[0] == "" {
			return fmt.Errorf("docker: watchdog: empty command")
		}
		c.watchdog = argv
		return nil
	}
}

// watch is a run's watchdog, as its executor sees it.
type watch struct {
	cmd  *osexec.Cmd
	pipe *os.File // the write end of the watchdog's stdin
}

// startWatchdog starts the watchdog of a run's containers, volumes and
// outputs tmpfs mounts; deadline zero means none. It returns nil without
// WithWatchdog.
func (e *Executor) startWatchdog(deadline time.Time, containers, volumes, mounts []string) (*watch, error) {
	if len(e.cfg.watchdog) == 0 {
		return nil, nil
	}
	args := append([]string{}, e.cfg.watchdog[1:]...)
	args = append(args, "-host", e.cli.DaemonHost())
	if !deadline.IsZero() {
		args = append(args, "-deadline", strconv.FormatInt(deadline.UnixNano(), 10))
	}
	for _, c := range containers {
		args = append(args, "-container", c)
	}
	for _, v := range volumes {
		args = append(args, "-volume", v)
	}
	for _, m := range mounts {
		args = append(args, "-unmount", m)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	defer r.Close()
	cmd := osexec.Command(e.cfg.watchdog[0], args...)
	cmd.Stdin = r // stdout and stderr: /dev/null (a write to a dead reader must not kill it)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("watchdog %s: %w", e.cfg.watchdog[0], err)
	}
	return &watch{cmd: cmd, pipe: w}, nil
}

// stop tells the watchdog the run is over (it then removes what is left,
// which normally is nothing, and exits) and reaps it in the background.
func (w *watch) stop() {
	if w == nil {
		return
	}
	w.pipe.Close()
	go w.cmd.Wait()
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// RunWatchdog is the watchdog process started by [WithWatchdog]: args are
// its flags, stdin the pipe from the executor. It returns when it has
// removed the run's containers and volumes and unmounted its outputs tmpfs,
// after the executor ended the run or died, at the deadline, or when the
// first container was removed by someone else.
func RunWatchdog(args []string, stdin io.Reader) error {
	fs := flag.NewFlagSet(WatchdogCommand, flag.ContinueOnError)
	host := fs.String("host", "", "Docker Engine address")
	deadline := fs.Int64("deadline", 0, "Unix time in nanoseconds at which to remove the containers (0: none)")
	var containers, volumes, mounts listFlag
	fs.Var(&containers, "container", "container to remove (repeated); the first is the run's")
	fs.Var(&volumes, "volume", "volume to remove (repeated)")
	fs.Var(&mounts, "unmount", "outputs tmpfs to unmount, after the containers are removed (repeated)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(containers) == 0 {
		return errors.New("watchdog: no -container")
	}
	opts := []client.Opt{client.FromEnv}
	if *host != "" {
		opts = append(opts, client.WithHost(*host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	defer cli.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	var timer <-chan time.Time
	if *deadline != 0 {
		timer = time.After(time.Until(time.Unix(0, *deadline)))
	}
	removed := cli.ContainerWait(ctx, containers[0], client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
	select {
	case <-eof: // the executor ended the run, or died
	case <-timer:
	case <-removed.Result:
	case err := <-removed.Error:
		if !cerrdefs.IsNotFound(err) { // engine trouble: wait for the other signals
			select {
			case <-eof:
			case <-timer:
			}
		}
	}
	err = removeAll(cli, containers, volumes)
	return errors.Join(err, unmountAll(mounts))
}

// unmountAll unmounts those of dirs that are outputs tmpfs mounts (see
// [MountSource]) and removes their mount points; a dir that is not one
// any more (the executor unmounted it) is left alone.
func unmountAll(dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	ms, err := outputsMounts("")
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		if slices.Contains(dirs, m.point) {
			if err := unmountDir(m.point); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m.point, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeAll force-removes containers then volumes, retrying while the
// engine does not answer, for at most cleanupTimeout.
func removeAll(cli *client.Client, containers, volumes []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var errs []error
	try := func(f func() error) {
		for {
			err := f()
			if err == nil || cerrdefs.IsNotFound(err) {
				return
			}
			if !client.IsErrConnectionFailed(err) || ctx.Err() != nil {
				errs = append(errs, err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	for _, c := range containers {
		try(func() error {
			_, err := cli.ContainerRemove(ctx, c, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			return err
		})
	}
	for _, v := range volumes {
		try(func() error {
			_, err := cli.VolumeRemove(ctx, v, client.VolumeRemoveOptions{Force: true})
			return err
		})
	}
	return errors.Join(errs...)
}
