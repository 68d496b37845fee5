package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/shoalnet/shoal/exec/docker"
	"github.com/shoalnet/shoal/exec/wasm"
)

// runWatchdog runs this process as a docker run's watchdog when the daemon
// started it so (`shoal __docker-watchdog FLAGS`, never typed by a user) and
// reports whether it did. See docker.WithWatchdog.
func runWatchdog() bool {
	if len(os.Args) < 2 || os.Args[1] != docker.WatchdogCommand {
		return false
	}
	if err := docker.RunWatchdog(os.Args[2:], os.Stdin); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// runWASMWorker runs this process as a wasm worker when the daemon started
// it so (`shoal __wasm-worker`, never typed by a user). See wasm.WithWorkers.
func runWASMWorker() {
	if len(os.Args) != 2 || os.Args[1] != wasm.WorkerCommand {
		return
	}
	if err := wasm.ServeWorker(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shoal wasm worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// wasmWorker is the command of the wasm engine's worker processes: this
// very executable with the hidden subcommand; none (modules run in the
// daemon) for a test binary running the daemon in process.
func wasmWorker() wasm.WorkerCmd {
	exe, err := os.Executable()
	if err != nil || strings.HasSuffix(exe, ".test") {
		return wasm.WorkerCmd{}
	}
	return wasm.WorkerCmd{Path: exe, Args: []string{wasm.WorkerCommand}}
}

// dockerOptions are the daemon's docker executor options: a watchdog per
// container, this very executable, so containers die at their deadline (or
// with the daemon) even when the daemon does not remove them.
func dockerOptions() ([]docker.Option, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("docker watchdog: cannot find this executable: %w", err)
	}
	if strings.HasSuffix(exe, ".test") {
		return nil, nil // a test binary running the daemon in process has no watchdog command
	}
	return []docker.Option{docker.WithWatchdog(exe, docker.WatchdogCommand)}, nil
}
