package wasm

// SetCompileHook makes x call f as each compilation starts, in the
// compiling goroutine. Set it before the first run.
func SetCompileHook(x *Executor, f func(digest [32]byte)) { x.modules.hookCompile = f }

// TableEntries exports tableEntries to the fuzzer.
func TableEntries(code []byte) (uint64, error) { return tableEntries(code) }

// WorkerPIDs returns the process IDs of x's live worker processes.
func WorkerPIDs(x *Executor) []int { return x.pool.pids() }

// AppendULEB and AppendSLEB export the LEB128 encoders to the tests'
// module builder.
func AppendULEB(b []byte, v uint64) []byte { return appendUleb(b, v) }
func AppendSLEB(b []byte, v int64) []byte  { return appendSleb(b, v) }
