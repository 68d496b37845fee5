package node

import (
	"github.com/shoalnet/shoal/exec/docker"
	"github.com/shoalnet/shoal/exec/wasm"
)

// WithDockerOptions adds options of the docker executor, after the node's
// own (instance and logger). The shoal daemon passes docker.WithWatchdog
// with its own executable, so containers die with a crashed daemon.
func WithDockerOptions(opts ...docker.Option) Option {
	return func(o *options) error {
		o.docker = append(o.docker, opts...)
		return nil
	}
}

// WithWASMWorker sets the command of the wasm engine's worker processes
// (the shoal daemon passes its own executable and wasm.WorkerCommand).
// Without it, or with wasm.workers -1, modules run in the daemon.
func WithWASMWorker(cmd wasm.WorkerCmd) Option {
	return func(o *options) error {
		o.wasmWorker = cmd
		return nil
	}
}
