package docker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalnet/shoal/exec"
)

// PingTimeout bounds the ping of [New] and [Available].
const PingTimeout = 2 * time.Second

// cleanupTimeout bounds the removal of a container and the kill that may
// precede it; they run under a fresh context.
const cleanupTimeout = 30 * time.Second

// Executor runs tasks as containers. Create it with [New]; it is safe for
// concurrent use.
type Executor struct {
	cfg config
	log *slog.Logger
	cli *client.Client
	// pause is the host path of the keeper program (see outputs.go), in a
	// directory removed by Close; empty on an architecture without one,
	// and then, if the host cannot mount the outputs tmpfs either, the
	// outputs are a bind mount with no size bound.
	pause string
	// noMount is set when mounting the outputs tmpfs on the host failed
	// (no CAP_SYS_ADMIN): runs use the keeper without trying again.
	noMount atomic.Bool
	seesMu  sync.Mutex
	sees    map[uint64]bool // engineSees answers, by mount

	closeCtx    context.Context
	closeCancel context.CancelFunc
	loadMu      sync.Mutex // serializes image loads

	mu     sync.Mutex
	closed bool
	active map[string]bool // IDs of the containers of runs in progress
	runs   sync.WaitGroup
}

var _ exec.Executor = (*Executor)(nil)

// New connects to the Docker Engine and checks that it answers a ping
// within [PingTimeout]; if it does not, the error wraps
// [exec.ErrEngineUnavailable].
func New(ctx context.Context, opts ...Option) (*Executor, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	cli, err := client.New(cfg.clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("docker: %w: client: %w", exec.ErrEngineUnavailable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker: %w: ping %s: %w", exec.ErrEngineUnavailable, cli.DaemonHost(), err)
	}
	e := &Executor{
		cfg:    cfg,
		log:    cfg.log.With("engine", exec.EngineDocker),
		cli:    cli,
		active: map[string]bool{},
		sees:   map[uint64]bool{},
	}
	if e.pause, err = writePause(); err != nil {
		e.log.Warn("outputs are not size-bounded", "err", err)
	}
	e.closeCtx, e.closeCancel = context.WithCancel(context.Background())
	return e, nil
}

// writePause writes the keeper program for this machine's architecture to
// a new temporary directory and returns its path.
func writePause() (string, error) {
	b, err := pauseELF(runtime.GOARCH)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "shoal-docker-")
	if err != nil {
		return "", fmt.Errorf("docker: keeper: %w", err)
	}
	p := filepath.Join(dir, "keeper")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("docker: keeper: %w", err)
	}
	return p, nil
}

// Available reports whether a Docker Engine answers a ping within
// [PingTimeout], with the client configured from the environment plus opts.
// A node advertises the docker engine only when it does.
func Available(ctx context.Context, opts ...client.Opt) bool {
	cli, err := client.New(append([]client.Opt{client.FromEnv}, opts...)...)
	if err != nil {
		return false
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	_, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return err == nil
}

// Engine returns exec.EngineDocker.
func (e *Executor) Engine() string { return exec.EngineDocker }

// Close kills the containers of the runs in progress, waits until they are
// removed and closes the client. It is safe to call more than once.
func (e *Executor) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.closeCancel()
	e.runs.Wait()
	if e.pause != "" {
		os.RemoveAll(filepath.Dir(e.pause))
	}
	return e.cli.Close()
}

// begin registers a run; the caller calls e.runs.Done when it ends.
func (e *Executor) begin() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return exec.ErrClosed
	}
	e.runs.Add(1)
	return nil
}

func (e *Executor) track(id string, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if on {
		e.active[id] = true
	} else {
		delete(e.active, id)
	}
}

// engineErr wraps an error of the engine with op, marking a lost
// connection as exec.ErrEngineUnavailable.
func engineErr(op string, err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%s: %w: %w", op, exec.ErrEngineUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
