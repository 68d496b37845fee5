// Package partition is the partition plan. Instances [0, N/2) are side A,
// the rest side B. Instance 0 asks the runner to split the network; every
// node drops its connections and reconnects within its side; the lowest
// instance of each side submits jobs, which must complete on that side.
// Then instance 0 asks the runner to heal, every node reconnects to its
// original peers, and each side's requester submits a job that only the
// other side may run (constraints.executors), which must complete.
package partition

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/testground/plans/internal/planutil"
	"github.com/shoalnet/shoal/testground/sdk/netctl"
	"github.com/shoalnet/shoal/testground/sdk/run"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
)

// Manifest is the plan's manifest.toml.
//
//go:embed manifest.toml
var Manifest []byte

// TestCases are the plan's cases.
var TestCases = run.TestCases{"default": planutil.Guard(Run)}

// Run is the default case.
func Run(env *runtime.RunEnv, ic *run.InitContext) error {
	n, err := planutil.Start(env, ic, planutil.CommonOptions(env))
	if err != nil {
		return err
	}
	defer n.Close()
	ctx := n.Ctx()
	total := env.TestInstanceCount
	me := n.Self.Index
	half := total / 2
	sideA := indices(0, half)
	sideB := indices(half, total)
	mySide, otherSide := sideA, sideB
	if me >= half {
		mySide, otherSide = sideB, sideA
	}
	module, err := n.AddModule(ctx, 0, "side\n")
	if err != nil {
		return err
	}
	if err := n.Wait("ready"); err != nil {
		return err
	}

	// Split.
	if me == 0 {
		if err := netctl.Do(ctx, n.Sync, netctl.Request{Op: netctl.OpPartition, Groups: [][]int{sideA, sideB}}); err != nil {
			return err
		}
		env.RecordMessage("network split: %v | %v", sideA, sideB)
	}
	if err := n.Wait("split"); err != nil {
		return err
	}
	// The nodes notice the split (connections reset), as they would after
	// their streams time out.
	for _, p := range n.Host.Network().Peers() {
		_ = n.Host.Network().ClosePeer(p)
	}
	if err := n.ConnectTo(ctx, sameSide(n.Self.Index, mySide, n.Opts.Degree)); err != nil {
		return fmt.Errorf("reconnect within side: %w", err)
	}
	if err := n.Wait("rejoined-side"); err != nil {
		return err
	}
	if err := planutil.Sleep(ctx, n.Opts.Settle); err != nil {
		return err
	}
	var errs []error
	if me == mySide[0] {
		// Jobs go to the other nodes of the side, so they cross the
		// side's network rather than run on their requester.
		mates, err := n.PeerIDs(mySide[1:])
		if err != nil {
			return err
		}
		var specs []*jobspec.Spec
		for j := 0; j < env.IntParam("jobs_per_side"); j++ {
			s := planutil.Spec(fmt.Sprintf("partition-%d-%d", me, j), module, nil)
			s.Constraints.Executors.Peers = mates[:min(len(mates), jobspec.MaxPeers)]
			specs = append(specs, s)
		}
		ids := map[string]bool{}
		for _, i := range mySide {
			ids[n.Peers[i].ID] = true
		}
		for i, o := range n.RunMany(ctx, specs, env.IntParam("concurrency")) {
			env.RecordPoint("side_job_completed", b2f(o.Completed()))
			if !o.Completed() {
				errs = append(errs, fmt.Errorf("job %s did not complete while split", specs[i].Name))
				continue
			}
			env.RecordPoint("side_job_ms", planutil.Ms(o.Latency))
			env.RecordPoint("executor_same_side", b2f(ids[o.Executor]))
			if !ids[o.Executor] {
				errs = append(errs, fmt.Errorf("job %s ran on %s across the partition", specs[i].Name, o.Executor))
			}
		}
	}
	if err := n.Wait("side-jobs-done"); err != nil {
		return err
	}

	// Heal.
	if me == 0 {
		if err := netctl.Do(ctx, n.Sync, netctl.Request{Op: netctl.OpHeal}); err != nil {
			return err
		}
		env.RecordMessage("network healed")
	}
	if err := n.Wait("healed"); err != nil {
		return err
	}
	healed := time.Now()
	if err := n.ConnectTo(ctx, n.Dialled); err != nil {
		return fmt.Errorf("reconnect after heal: %w", err)
	}
	if err := n.Wait("rejoined"); err != nil {
		return err
	}
	env.RecordPoint("heal_rejoin_ms", planutil.Ms(time.Since(healed)))
	env.RecordMessage("after the heal: connected to %d peers", len(n.Host.Network().Peers()))
	if err := planutil.Sleep(ctx, n.Opts.Settle); err != nil {
		return err
	}
	if me == mySide[0] {
		others, err := n.PeerIDs(otherSide)
		if err != nil {
			return err
		}
		s := planutil.Spec(fmt.Sprintf("partition-heal-%d", me), module, nil)
		s.Constraints.Executors.Peers = others[:min(len(others), jobspec.MaxPeers)]
		jctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		o, err := n.RunJob(jctx, s)
		cancel()
		ok := err == nil && o.Completed()
		if !ok && o != nil {
			n.LogJob(o.ID)
		}
		env.RecordPoint("heal_job_completed", b2f(ok))
		if ok {
			env.RecordPoint("heal_job_ms", planutil.Ms(o.Latency))
		} else {
			errs = append(errs, fmt.Errorf("after the heal, a job for the other side did not complete: %v", err))
		}
	}
	if err := n.Finish(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func indices(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// sameSide picks up to degree peers of the side: ring successors within
// the side, so the side stays connected.
func sameSide(me int, side []int, degree int) []int {
	pos := 0
	for i, x := range side {
		if x == me {
			pos = i
		}
	}
	var out []int
	for k := 1; k < len(side) && len(out) < max(degree, 1); k++ {
		out = append(out, side[(pos+k)%len(side)])
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
