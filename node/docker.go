package node

import "github.com/shoalnet/shoal/exec/docker"

// WithDockerOptions adds options of the docker executor, after the node's
// own (instance and logger). The shoal daemon passes docker.WithWatchdog
// with its own executable, so containers die with a crashed daemon.
func WithDockerOptions(opts ...docker.Option) Option {
	return func(o *options) error {
		o.docker = append(o.docker, opts...)
		return nil
	}
}
