package planutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoalnet/shoal/testground/sdk/run"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// StateAbort is signalled by an instance that fails, so the others stop
// waiting for it at barriers instead of hanging until the run's timeout.
const StateAbort = "abort"

// ErrAborted is returned by Wait when another instance failed.
var ErrAborted = errors.New("another instance failed")

// Guard wraps a case: when it fails or panics, StateAbort is signalled.
func Guard(fn run.TestCaseFn) run.TestCaseFn {
	return func(env *runtime.RunEnv, ic *run.InitContext) (err error) {
		defer func() {
			v := recover()
			if errors.Is(err, context.Canceled) && ic.Ctx.Err() == nil {
				err = fmt.Errorf("%w (%v)", ErrAborted, err)
			}
			// An instance the runner stopped (killed, timed out) does not
			// abort the others: that is the runner's doing, not a failure.
			if ((err != nil && !errors.Is(err, ErrAborted)) || v != nil) && ic.Ctx.Err() == nil {
				_, _ = ic.SyncClient.SignalEntry(context.WithoutCancel(ic.Ctx), StateAbort)
			}
			if v != nil {
				panic(v)
			}
		}()
		return fn(env, ic)
	}
}

// Wait signals entry into state and waits until target instances did, or
// returns ErrAborted as soon as any instance failed.
func Wait(ctx context.Context, c tgsync.Client, state string, target int) (int64, error) {
	seq, err := c.SignalEntry(ctx, state)
	if err != nil {
		return 0, err
	}
	return seq, Barrier(ctx, c, state, target)
}

// Barrier waits until target instances signalled state, without
// signalling it, or returns ErrAborted as soon as any instance failed.
func Barrier(ctx context.Context, c tgsync.Client, state string, target int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	aborted := make(chan error, 1)
	go func() { aborted <- c.Barrier(ctx, StateAbort, 1) }()
	reached := make(chan error, 1)
	go func() { reached <- c.Barrier(ctx, state, target) }()
	select {
	case err := <-reached:
		return err
	case err := <-aborted:
		if err == nil {
			return fmt.Errorf("waiting at %s: %w", state, ErrAborted)
		}
		return err
	}
}

// Wait is the package Wait on the node's sync client for all instances.
func (n *Node) Wait(state string) error {
	_, err := Wait(n.Ctx(), n.Sync, state, n.Env.TestInstanceCount)
	return err
}
