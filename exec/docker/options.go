package docker

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"

	"github.com/moby/moby/client"
)

// Container labels set by the executor.
const (
	// LabelManaged is "true" on every container the executor creates.
	LabelManaged = "shoal.managed"
	// LabelTask holds the task ID.
	LabelTask = "shoal.task"
	// LabelInstance holds the executor's instance (see WithInstance).
	LabelInstance = "shoal.instance"
)

type config struct {
	clientOpts []client.Opt
	instance   string
	user       string
	log        *slog.Logger
	watchdog   []string
	// outputsVolume: always the outputs volume and its keeper
	outputsVolume bool
}

func defaultConfig() config {
	return config{
		clientOpts: []client.Opt{client.FromEnv},
		user:       fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()),
		log:        slog.Default(),
	}
}

// Option configures an [Executor].
type Option func(*config) error

// WithClientOptions adds moby client options after client.FromEnv, for
// example client.WithHost.
func WithClientOptions(opts ...client.Opt) Option {
	return func(c *config) error {
		c.clientOpts = append(c.clientOpts, opts...)
		return nil
	}
}

var instanceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// WithInstance labels the executor's containers with id (the node passes
// its peer ID), so that ReapOrphans removes only this node's containers when
// several nodes share one engine. Default: none, and ReapOrphans removes
// every Shoal container of the engine.
func WithInstance(id string) Option {
	return func(c *config) error {
		if !instanceRE.MatchString(id) {
			return fmt.Errorf("docker: instance %q: want 1-128 characters of [A-Za-z0-9_.-]", id)
		}
		c.instance = id
		return nil
	}
}

// WithUser sets the user containers run as ("uid:gid" or a name known to
// the image). Default: the uid:gid of this process, so that files written to
// the outputs directory belong to the node and the node's files can be read.
func WithUser(user string) Option {
	return func(c *config) error {
		if user == "" {
			return fmt.Errorf("docker: empty user")
		}
		c.user = user
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("docker: nil logger")
		}
		c.log = l
		return nil
	}
}

// WithOutputsVolume makes every run's outputs a tmpfs volume of the engine
// held by a keeper container (+0.4 s a run), never a tmpfs the executor
// mounts on the host. Default: the host tmpfs when this process may mount
// (CAP_SYS_ADMIN) and the engine sees its mounts, else the volume.
func WithOutputsVolume() Option {
	return func(c *config) error {
		c.outputsVolume = true
		return nil
	}
}
