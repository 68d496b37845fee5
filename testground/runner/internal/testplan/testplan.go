// Package testplan is a plan without Shoal nodes for the runner's tests:
// instances meet at a barrier, exchange items over a topic, and then
// succeed, fail, crash, or have one of them killed by the runner.
package testplan

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	"github.com/shoalnet/shoal/testground/sdk/netctl"
	"github.com/shoalnet/shoal/testground/sdk/run"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// Manifest is the plan's manifest.toml.
//
//go:embed manifest.toml
var Manifest []byte

// TestCases are the plan's cases.
var TestCases = run.TestCases{
	"ok":        ok,
	"fail-one":  failOne,
	"crash-one": crashOne,
	"kill":      kill,
}

func meet(env *runtime.RunEnv, ic *run.InitContext) error {
	ctx := ic.Ctx
	if _, err := ic.SyncClient.Publish(ctx, "hello", env.InstanceIndex); err != nil {
		return err
	}
	got, err := tgsync.Collect[int](ctx, ic.SyncClient, "hello", env.TestInstanceCount)
	if err != nil {
		return err
	}
	sum := 0
	for _, v := range got {
		sum += v
	}
	if want := env.TestInstanceCount * (env.TestInstanceCount - 1) / 2; sum != want {
		return fmt.Errorf("indices add up to %d, want %d", sum, want)
	}
	_, err = tgsync.SignalAndWait(ctx, ic.SyncClient, "met", env.TestInstanceCount)
	return err
}

func ok(env *runtime.RunEnv, ic *run.InitContext) error {
	if err := meet(env, ic); err != nil {
		return err
	}
	env.RecordMessage("%s from instance %d (seq %d)", env.StringParam("word"), env.InstanceIndex, ic.GlobalSeq)
	env.RecordPoint("value", float64(env.InstanceIndex))
	env.RecordPoint("ok", 1)
	return nil
}

func failOne(env *runtime.RunEnv, ic *run.InitContext) error {
	if err := meet(env, ic); err != nil {
		return err
	}
	if env.InstanceIndex == env.IntParam("who") {
		return errors.New("this instance was told to fail")
	}
	return nil
}

func crashOne(env *runtime.RunEnv, ic *run.InitContext) error {
	if err := meet(env, ic); err != nil {
		return err
	}
	if env.InstanceIndex == env.IntParam("who") {
		panic("this instance was told to crash")
	}
	return nil
}

// kill: instance 0 asks the runner to kill the last instance, which
// records success first (its part is to die), then waits.
func kill(env *runtime.RunEnv, ic *run.InitContext) error {
	if err := meet(env, ic); err != nil {
		return err
	}
	last := env.TestInstanceCount - 1
	switch env.InstanceIndex {
	case last:
		env.RecordSuccess()
		if _, err := ic.SyncClient.SignalEntry(ic.Ctx, "victim-ready"); err != nil {
			return err
		}
		<-ic.Ctx.Done()
		return nil
	case 0:
		if err := ic.SyncClient.Barrier(ic.Ctx, "victim-ready", 1); err != nil {
			return err
		}
		if err := netctl.Do(ic.Ctx, ic.SyncClient, netctl.Request{Op: netctl.OpKill, Instances: []int{last}}); err != nil {
			return err
		}
		// An unsupported operation is reported, not fatal to the run.
		err := netctl.Do(ic.Ctx, ic.SyncClient, netctl.Request{Op: netctl.OpPartition, Groups: [][]int{{0}, {1}}})
		env.RecordMessage("partition: %v", err)
	}
	_, err := tgsync.SignalAndWait(context.WithoutCancel(ic.Ctx), ic.SyncClient, "survivors", env.TestInstanceCount-1)
	return err
}
