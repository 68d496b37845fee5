package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/internal/capture"
	"github.com/shoalnet/shoal/exec/internal/runctx"
)

// drainTimeout bounds the wait for the rest of the output after the
// container exited.
const drainTimeout = 10 * time.Second

// Run runs t in a new container and removes it. See the package
// documentation for the sandbox and the lifecycle.
func (e *Executor) Run(ctx context.Context, t *exec.Task) (*exec.Result, error) {
	start := time.Now()
	if err := t.Validate(exec.EngineDocker); err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	if err := e.begin(); err != nil {
		return nil, fmt.Errorf("docker: task %q: %w", t.ID, err)
	}
	defer e.runs.Done()
	res, err := e.run(ctx, t, start)
	if err != nil {
		err = fmt.Errorf("docker: task %q: %w", t.ID, err)
	}
	return res, err
}

func (e *Executor) run(ctx context.Context, t *exec.Task, start time.Time) (*exec.Result, error) {
	prepCtx, cancel := runctx.Prepare(ctx, e.closeCtx)
	defer cancel()
	res := &exec.Result{OutputsDir: t.OutputsDir, ExitCode: -1}
	// fail returns err, unless the run was stopped while being prepared:
	// then the stop error and the (empty) Result, as for any stopped run.
	fail := func(err error) (*exec.Result, error) {
		if prepCtx.Err() != nil {
			res.Timings.Prepare = time.Since(start)
			res.Timings.Total = res.Timings.Prepare
			return res, runctx.StopReason(prepCtx, t.Timeout)
		}
		return nil, err
	}

	ms, err := mounts(t)
	if err != nil {
		return nil, err
	}
	image, err := e.ensureImage(prepCtx, t.Docker)
	if err != nil {
		return fail(err)
	}
	name := containerName(t.ID)
	// The watchdog is told the run is over after every removal below (this
	// is deferred first, so it runs last); its own removals are then no-ops.
	var wd *watch
	defer func() { wd.stop() }()
	// The outputs: a tmpfs mounted on the host, else a volume and its
	// keeper, else (no keeper for this architecture) the bare directory.
	var (
		tmpfs *hostTmpfs
		outs  *outputs
	)
	if t.OutputsDir != "" {
		if tmpfs, err = e.mountOutputs(prepCtx, t, image, ms[len(ms)-1].Source, name, e.labels(t)); err != nil {
			return fail(err)
		}
		switch {
		case tmpfs != nil:
			defer e.unmount(tmpfs, e.log.With("task", t.ID))
			ms[len(ms)-1] = tmpfs.mount(t.OutputsTarget())
		case e.pause != "":
			if outs, err = e.createOutputs(prepCtx, t, image, name, e.labels(t)); err != nil {
				return fail(err)
			}
			defer e.removeOutputs(outs, e.log.With("task", t.ID))
			ms[len(ms)-1] = outs.mount(t.OutputsTarget())
		}
	}
	cfg, host := e.containerConfig(t, image, ms)
	e.track(name, true) // kept by ReapOrphans, even before it has an ID
	defer e.track(name, false)
	created, err := e.createContainer(prepCtx, client.ContainerCreateOptions{Config: cfg, HostConfig: host, Name: name})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			err = fmt.Errorf("%w: %q: %w", exec.ErrImageNotFound, image, err)
		}
		return fail(engineErr("create container", err))
	}
	id := created.ID
	e.track(id, true)
	log := e.log.With("task", t.ID, "container", shortID(id))
	defer func() {
		cleanupStart := time.Now()
		e.remove(id, log)
		e.track(id, false)
		res.Timings.Cleanup = time.Since(cleanupStart)
		res.Timings.Total = time.Since(start)
	}()
	{
		var deadline time.Time
		if t.Timeout > 0 {
			deadline = time.Now().Add(t.Timeout + WatchdogGrace)
		}
		cs, vs, us := []string{id}, []string(nil), []string(nil)
		if outs != nil {
			cs, vs = append(cs, outs.keeper), []string{outs.volume}
		}
		if tmpfs != nil {
			us = []string{tmpfs.dir}
		}
		if wd, err = e.startWatchdog(deadline, cs, vs, us); err != nil {
			return fail(err)
		}
	}

	// Attach before starting, so no output is missed.
	att, err := e.cli.ContainerAttach(prepCtx, id, client.ContainerAttachOptions{
		Stream: true, Stdin: t.Stdin != nil, Stdout: true, Stderr: true,
	})
	if err != nil {
		return fail(engineErr("attach container", err))
	}
	defer att.Close()
	stdout, stderr := capture.NewTapped(t.StdoutLimit(), t.StdoutTap), capture.NewTapped(t.StderrLimit(), t.StderrTap)
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, att.Reader)
		copied <- err
	}()
	if t.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, t.Stdin)
			_ = att.CloseWrite() // EOF on the container's stdin
		}()
	}

	// Wait for the exit under a context that outlives a cancel, so the exit
	// status of a killed container is still read.
	waitCtx, stopWait := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWait()
	wait := e.cli.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})

	runCtx, cancelRun := runctx.Run(prepCtx, t.Timeout)
	defer cancelRun()
	runStart := time.Now()
	res.Timings.Prepare = runStart.Sub(start)
	if _, err := e.cli.ContainerStart(prepCtx, id, client.ContainerStartOptions{}); err != nil {
		return fail(engineErr("start container", err))
	}

	var stopErr error
	select {
	case r := <-wait.Result:
		res.ExitCode = int(r.StatusCode)
	case err := <-wait.Error:
		return fail(engineErr("wait for container", err))
	case <-runCtx.Done():
		stopErr = runctx.StopReason(runCtx, t.Timeout)
		res.ExitCode = e.kill(id, wait, log)
	}
	res.Timings.Run = time.Since(runStart)

	select {
	case err := <-copied:
		if err != nil && !errors.Is(err, io.EOF) {
			log.Warn("reading container output", "err", err)
		}
	case <-time.After(drainTimeout):
		log.Warn("container output still open after exit; closing it")
		att.Close()
	}
	res.Stdout, res.StdoutTruncated = stdout.Bytes(), stdout.Truncated()
	res.Stderr, res.StderrTruncated = stderr.Bytes(), stderr.Truncated()

	if outs != nil || tmpfs != nil {
		var err error
		if tmpfs != nil {
			err = tmpfs.copyOut(t.OutputsDir)
		} else {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			err = e.copyOut(ctx, outs, t.OutputsDir)
			cancel()
		}
		if err != nil && (stopErr == nil || errors.Is(err, exec.ErrDiskLimit)) {
			stopErr = err
		}
	}
	if stopErr == nil {
		// Exit 137 decides without the engine's flag; see memoryLimitStop.
		stopErr = memoryLimitStop(res.ExitCode, res.ExitCode != exitSIGKILL && e.oomKilled(id, log), t.Limits.MemoryOrDefault())
	}
	log.Debug("run", "exit", res.ExitCode, "err", stopErr, "prepare", res.Timings.Prepare, "run", res.Timings.Run)
	return res, stopErr
}

// kill sends SIGKILL and returns the exit status (-1 if unknown).
func (e *Executor) kill(id string, wait client.ContainerWaitResult, log *slog.Logger) int {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := e.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		log.Warn("kill container", "err", err)
	}
	select {
	case r := <-wait.Result:
		return int(r.StatusCode)
	case err := <-wait.Error:
		log.Warn("wait for killed container", "err", err)
	case <-ctx.Done():
		log.Warn("killed container did not exit", "err", ctx.Err())
	}
	return -1
}

// exitSIGKILL is the exit status of a process killed by SIGKILL (128+9).
const exitSIGKILL = 128 + 9

// memoryLimitStop decides whether a run that the executor did not stop
// (no timeout, cancel or close) was stopped at its memory limit of limit
// bytes, from the exit status and the engine's State.OOMKilled.
//
// The flag alone is not enough: containerd 1.6 (Docker 20.10) registers its
// OOM monitor only after the program has started and sends the OOM and the
// exit event from different goroutines, so a program that reaches its limit
// quickly, or a loaded host, gets an OOM kill with OOMKilled false (the
// "oom" event arrives after "die", or never). Exit 137 is decisive instead:
// nothing inside the container's PID namespace can SIGKILL its init, and
// this executor did not, so it is the kernel's OOM killer. (An operator's
// docker kill -s KILL, or a program that exits 137 itself, reads the same.)
func memoryLimitStop(exitCode int, oomKilled bool, limit int64) error {
	switch {
	case oomKilled:
		return fmt.Errorf("%w: the container was killed by the kernel's OOM killer at its limit of %d bytes", exec.ErrMemoryLimit, limit)
	case exitCode == exitSIGKILL:
		return fmt.Errorf("%w: the container was killed by SIGKILL (exit %d) that the executor did not send: the kernel's OOM killer at its limit of %d bytes",
			exec.ErrMemoryLimit, exitCode, limit)
	}
	return nil
}

func (e *Executor) oomKilled(id string, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	insp, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		log.Warn("inspect container", "err", err)
		return false
	}
	return insp.Container.State != nil && insp.Container.State.OOMKilled
}

// remove force-removes a container (by ID or name) under a fresh context:
// it runs after success, failure, timeout and cancel alike.
func (e *Executor) remove(id string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, err := e.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		log.Warn("remove container; ReapOrphans will retry", "err", err)
	}
}
