package wasm

import (
	"context"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
)

// DeterministicEpoch is the Unix time (seconds) a deterministic module's
// wall clock starts at: 2025-01-01T00:00:00Z.
const DeterministicEpoch int64 = 1735689600

// clockTick is how far the deterministic clocks move on each reading.
const clockTick = int64(time.Microsecond)

// fakeClock is the deterministic clock: nanoseconds since the epoch, moved
// only by readings and sleeps of the module. A sleep still takes its time
// on the host (bounded by the run's context), so a module that waits
// waits, and the task's timeout counts it; only what the module reads of
// the clocks is fixed.
type fakeClock struct {
	ns    atomic.Int64
	sleep func(ns int64)
}

func (c *fakeClock) walltime() (int64, int32) {
	t := DeterministicEpoch*1e9 + c.ns.Add(clockTick)
	return t / 1e9, int32(t % 1e9)
}

func (c *fakeClock) nanotime() int64 { return c.ns.Add(clockTick) }

func (c *fakeClock) nanosleep(ns int64) {
	if ns > 0 {
		c.sleep(ns)
		c.ns.Add(ns)
	}
}

// withClocks configures the clocks and random source of one run; seed
// seeds the random source of a deterministic one.
func withClocks(ctx context.Context, cfg wazero.ModuleConfig, deterministic bool, seed [32]byte) wazero.ModuleConfig {
	if deterministic {
		c := &fakeClock{sleep: ctxSleep(ctx)}
		return cfg.
			WithWalltime(c.walltime, sys.ClockResolution(time.Microsecond)).
			WithNanotime(c.nanotime, sys.ClockResolution(time.Microsecond)).
			WithNanosleep(c.nanosleep).
			WithOsyield(func() {}).
			WithRandSource(mrand.NewChaCha8(seed))
	}
	return cfg.
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(ctxSleep(ctx)).
		WithOsyield(runtime.Gosched).
		WithRandSource(rand.Reader)
}

// ctxSleep returns a sleep that ends early when ctx is done, so a sleeping
// module is stopped by a timeout or a cancel like a spinning one.
func ctxSleep(ctx context.Context) func(ns int64) {
	return func(ns int64) {
		if ns <= 0 {
			return
		}
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// ctxReader gives the module r as stdin through a pipe that is closed when
// ctx is done, so a module blocked reading stdin is stopped too. The copy
// goroutine ends when r returns or the run ends (a reader that blocks
// forever keeps it until it returns; Run never closes the task's Stdin).
func ctxReader(ctx context.Context, r io.Reader) (io.Reader, func()) {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err) // nil means EOF
	}()
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	return pr, func() {
		stop()
		pr.Close()
	}
}
