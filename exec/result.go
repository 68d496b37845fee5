package exec

import "time"

// Result is what a run produced.
type Result struct {
	// ExitCode is the program's exit status; non-zero is not an error. For
	// a run stopped by the executor (timeout, kill) it is what the engine
	// saw, -1 when it saw none.
	ExitCode int
	// Stdout and Stderr hold what the program wrote, up to the task's caps;
	// the Truncated flags say that more was written and dropped.
	Stdout, Stderr                   []byte
	StdoutTruncated, StderrTruncated bool
	// Trap, when the program was a WebAssembly module that trapped
	// (unreachable, an out-of-bounds access, a stack overflow, ...), is
	// the trap's message; ExitCode is then that engine's trap status. A
	// trap is the program's failure, not an error of Run.
	Trap string
	// OutputsDir is the task's OutputsDir, holding what the program wrote
	// there.
	OutputsDir string
	// Timings says where the time went.
	Timings Timings
}

// Timings of one run. Prepare covers validation, module compilation or
// image lookup/load and sandbox creation; Run from start to exit; Cleanup
// the release of the sandbox; Total the whole call.
type Timings struct {
	Prepare, Run, Cleanup, Total time.Duration
}
