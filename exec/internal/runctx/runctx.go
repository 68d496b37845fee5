// Package runctx builds the contexts of one executor run and says why a run
// stopped, the same way for every engine. It is not API.
package runctx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoalnet/shoal/exec"
)

// errTaskTimeout is the cause of a run context whose Task.Timeout elapsed.
var errTaskTimeout = errors.New("task timeout")

// Prepare returns a context done when ctx is done or closing is (the
// executor's Close), with exec.ErrClosed as the cause in the second case.
// The engine prepares the run (compile, pull, create) under it.
func Prepare(ctx, closing context.Context) (context.Context, context.CancelFunc) {
	prep, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(closing, func() { cancel(exec.ErrClosed) })
	return prep, func() {
		stop()
		cancel(nil)
	}
}

// Run adds the task's timeout (0 = none) to the prepare context; the
// timeout covers the run only, not the preparation.
func Run(prep context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return context.WithCancel(prep)
	}
	return context.WithTimeoutCause(prep, timeout, errTaskTimeout)
}

// StopReason maps why ctx (from Prepare or Run) is done to the exec error:
// ErrTimeout, ErrKilled with ErrClosed, or ErrKilled with the caller's
// context error.
func StopReason(ctx context.Context, timeout time.Duration) error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errTaskTimeout):
		return fmt.Errorf("%w after %s", exec.ErrTimeout, timeout)
	case errors.Is(cause, exec.ErrClosed):
		return fmt.Errorf("%w: %w", exec.ErrKilled, exec.ErrClosed)
	case cause == nil:
		return fmt.Errorf("%w: %w", exec.ErrKilled, context.Canceled)
	default:
		return fmt.Errorf("%w: %w", exec.ErrKilled, cause)
	}
}
