// Package run invokes a plan's test cases: as the main function of a
// standalone plan binary (Invoke, for the local:exec and local:docker
// runners, or Testground itself) or inside the runner's process (Execute,
// for the sim runner). Either way the instance records its start, gets its
// sequence numbers from the sync service, runs the case with panics
// caught, and records success, failure or crash.
//
// The package depends on nothing of Shoal.
package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// States every instance signals before its case runs (Testground's names).
const (
	StateInitializedGlobal = "initialized_global"
	StateInitializedGroup  = "initialized_group_"
)

// InitContext is what an instance gets besides its RunEnv.
type InitContext struct {
	// Ctx ends when the instance must stop: the run's timeout, a signal,
	// or a kill by the runner (the sim runner cancels it).
	Ctx context.Context
	// SyncClient reaches the run's sync service.
	SyncClient tgsync.Client
	// GlobalSeq is this instance's 1-based position among all instances,
	// GroupSeq among its group's, in the order they signalled.
	GlobalSeq, GroupSeq int64
}

// TestCaseFn is one test case of a plan.
type TestCaseFn func(env *runtime.RunEnv, ic *InitContext) error

// TestCases maps the names of a plan's manifest to their functions.
type TestCases map[string]TestCaseFn

// ErrUnknownCase is returned for a TEST_CASE the plan does not have.
var ErrUnknownCase = errors.New("unknown test case")

// Execute runs the case env.TestCase of cases as one instance and records
// the outcome in env's run.out. It returns nil only when the instance
// recorded success.
func Execute(ctx context.Context, env *runtime.RunEnv, client tgsync.Client, cases TestCases) (err error) {
	env.RecordStart()
	fn, ok := cases[env.TestCase]
	if !ok {
		names := make([]string, 0, len(cases))
		for k := range cases {
			names = append(names, k)
		}
		sort.Strings(names)
		err = fmt.Errorf("%w %q in plan %s (it has: %s)", ErrUnknownCase, env.TestCase, env.TestPlan, strings.Join(names, ", "))
		env.RecordFailure(err)
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			env.RecordCrash(v)
			err = fmt.Errorf("crashed: %v", v)
		}
	}()
	ic := &InitContext{Ctx: ctx, SyncClient: client}
	if ic.GlobalSeq, err = client.SignalEntry(ctx, StateInitializedGlobal); err != nil {
		err = fmt.Errorf("sync service: %w", err)
		env.RecordFailure(err)
		return err
	}
	if ic.GroupSeq, err = client.SignalEntry(ctx, StateInitializedGroup+env.TestGroupID); err != nil {
		err = fmt.Errorf("sync service: %w", err)
		env.RecordFailure(err)
		return err
	}
	if err = fn(env, ic); err != nil {
		env.RecordFailure(err)
		return err
	}
	env.RecordSuccess()
	return nil
}

// Invoke is the main function of a standalone plan binary: it reads the
// environment contract, dials the sync service named by SYNC_SERVICE_HOST
// and SYNC_SERVICE_PORT, runs the case and exits with 0 on success, 1
// otherwise. SIGTERM and SIGINT cancel the instance's context.
func Invoke(cases TestCases) {
	os.Exit(invoke(cases))
}

func invoke(cases TestCases) int {
	env, err := runtime.CurrentRunEnv(runtime.WithEcho(os.Stdout))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer env.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	addr, err := tgsync.AddrFromEnv()
	if err != nil {
		env.RecordStart()
		env.RecordFailure(err)
		return 1
	}
	client, err := tgsync.DialWS(ctx, addr, tgsync.Scope{Run: env.TestRun, Plan: env.TestPlan, Case: env.TestCase})
	if err != nil {
		env.RecordStart()
		env.RecordFailure(err)
		return 1
	}
	defer client.Close()
	if err := Execute(ctx, env, client, cases); err != nil {
		return 1
	}
	return 0
}
