package exec

import "context"

// Engine names, as returned by [Executor.Engine] and advertised by a node.
const (
	EngineWASM   = "wasm"
	EngineDocker = "docker"
)

// Executor runs tasks with one engine.
//
// Implementations are safe for concurrent use: several tasks may run at once.
type Executor interface {
	// Engine names the engine: [EngineWASM] or [EngineDocker].
	Engine() string

	// Run runs t to completion and returns what it produced. It blocks until
	// the program exited, was stopped, or could not be started, and it
	// releases everything it created for the run before returning. See the
	// package documentation for what is an error and what is a Result.
	Run(ctx context.Context, t *Task) (*Result, error)

	// Close stops the runs in progress (they return an error wrapping
	// [ErrKilled] and [ErrClosed]), waits for their cleanup and releases the
	// executor's resources. It is safe to call more than once; Run after
	// Close returns an error wrapping [ErrClosed].
	Close() error
}
