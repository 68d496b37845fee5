package exec

import "errors"

// Sentinel errors returned (wrapped, with context) by executors. Test them
// with errors.Is.
var (
	// ErrInvalidTask reports a task that breaks the contract: no engine spec
	// or the wrong one, a relative mount path, two mounts at one path...
	ErrInvalidTask = errors.New("exec: invalid task")

	// ErrInvalidModule reports WebAssembly bytes that do not decode, validate
	// or link (for example, a missing entrypoint or an unknown import).
	ErrInvalidModule = errors.New("exec: invalid wasm module")

	// ErrImageNotFound reports a container image that is neither present on
	// the engine nor loadable from the task's ImageTar. The error message
	// names the image.
	ErrImageNotFound = errors.New("exec: image not found")

	// ErrTimeout reports a run stopped because Task.Timeout elapsed.
	ErrTimeout = errors.New("exec: task timed out")

	// ErrMemoryLimit reports a run stopped because the program needed more
	// memory than Limits.MemoryBytes.
	ErrMemoryLimit = errors.New("exec: memory limit exceeded")

	// ErrDiskLimit reports a run that wrote more than Limits.DiskBytes to
	// its outputs.
	ErrDiskLimit = errors.New("exec: disk limit exceeded")

	// ErrKilled reports a run stopped because the caller's context was done
	// or the executor was closed. The error also wraps the context's error
	// (context.Canceled or context.DeadlineExceeded) or [ErrClosed].
	ErrKilled = errors.New("exec: task killed")

	// ErrEngineUnavailable reports an engine this machine cannot use now,
	// for example a Docker Engine that does not answer.
	ErrEngineUnavailable = errors.New("exec: engine unavailable")

	// ErrSandboxCrashed reports a run whose sandbox (the process hosting
	// it) died on its own: not stopped by the executor for a timeout, a
	// cancel or a memory limit. Retrying elsewhere may succeed.
	ErrSandboxCrashed = errors.New("exec: sandbox crashed")

	// ErrClosed reports a call on a closed executor.
	ErrClosed = errors.New("exec: executor closed")
)
