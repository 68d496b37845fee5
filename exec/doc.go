// Package exec defines how Shoal runs one unit of work on this machine: the
// [Executor] contract, the [Task] it is given and the [Result] it returns.
//
// Implementations live in child packages: exec/wasm (WebAssembly through
// wazero) and exec/docker (containers through the Docker Engine API). The
// conformance suite every implementation must pass is exec/exectest.
//
// The package knows nothing of the network, of jobs or of content
// addressing: it must not import anything else from this repository, and it
// never imports its children.
//
// # Errors
//
// Run distinguishes a program that ran and failed from a run that could not
// happen or was stopped:
//
//   - A non-zero exit status is not an error: it is reported in
//     [Result.ExitCode] with a nil error.
//   - A task the engine cannot run returns an error wrapping
//     [ErrInvalidTask], [ErrInvalidModule], [ErrImageNotFound],
//     [ErrEngineUnavailable] or [ErrClosed], and a nil Result.
//   - A run that was stopped returns an error wrapping [ErrTimeout] (the
//     task's Timeout elapsed), [ErrKilled] (the caller's context was done or
//     the executor was closed), [ErrMemoryLimit] (the program needed more
//     memory than Limits.MemoryBytes) or [ErrDiskLimit] (it wrote more than
//     Limits.DiskBytes to its outputs), together with the partial Result:
//     what the program wrote before it was stopped. The Result is never nil
//     then, even when the stop came before the program started (it is empty,
//     with ExitCode -1).
//
// How each engine reports a crash of the program itself (a WebAssembly trap,
// a signal) is documented by the engine.
package exec
