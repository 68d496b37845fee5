// Package churn is the churn plan: requesters submit jobs to executors
// (nodes labelled role=executor), a fraction of the executors is killed
// while jobs run, and every job must still complete exactly once: no job
// lost, none with two receipts. Recovery time is from the kill to the
// completion of each job that had an award on a killed executor.
//
// A victim records success before it is killed (its part is to die), so
// the run still succeeds only when every instance reports success.
package churn

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/testground/plans/internal/planutil"
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
var TestCases = run.TestCases{"default": planutil.Guard(Run)}

// Label marks executors; jobs require it.
const Label = "role"

type victims struct {
	Indices []int     `json:"indices"`
	KillAt  time.Time `json:"kill_at"`
}

// Run is the default case.
func Run(env *runtime.RunEnv, ic *run.InitContext) error {
	total := env.TestInstanceCount
	requesters := min(max(env.IntParam("requesters"), 1), total-1)
	me := env.InstanceIndex
	executor := me >= requesters
	opts := planutil.CommonOptions(env)
	if executor {
		opts.Labels = map[string]string{Label: "executor"}
	}
	n, err := planutil.Start(env, ic, opts)
	if err != nil {
		return err
	}
	defer n.Close()
	ctx := n.Ctx()
	module, err := n.AddModule(ctx, env.DurationParam("job_time"), "survived\n")
	if err != nil {
		return err
	}
	if err := n.Wait("ready"); err != nil {
		return err
	}
	executors := total - requesters
	k := int(math.Ceil(env.FloatParam("kill_fraction") * float64(executors)))
	k = min(max(k, 0), executors-1) // someone must survive to run the jobs

	if executor {
		return runExecutor(n, k)
	}
	jobs := env.IntParam("jobs")
	mine := jobs / requesters
	if me < jobs%requesters {
		mine++
	}
	var specs []*jobspec.Spec
	for j := 0; j < mine; j++ {
		s := planutil.Spec(fmt.Sprintf("churn-%d-%d", me, j), module, []cid.Cid{})
		s.Inputs = nil
		s.Constraints.Labels = map[string]string{Label: "executor"}
		specs = append(specs, s)
	}
	start := time.Now()
	results := make(chan []*planutil.Outcome, 1)
	jctx, cancel := contextWithTimeout(n, env.DurationParam("deadline"))
	defer cancel()
	go func() { results <- n.RunMany(jctx, specs, env.IntParam("concurrency")) }()

	var v victims
	if me == 0 && k > 0 {
		if err := planutil.Sleep(ctx, env.DurationParam("kill_after")-time.Since(start)); err != nil {
			return err
		}
		v.Indices = pickVictims(n, requesters, k)
		if _, err := n.Sync.Publish(ctx, "victims", v); err != nil {
			return err
		}
		if err := planutil.Barrier(ctx, n.Sync, "victim-ready", k); err != nil {
			return err
		}
		v.KillAt = time.Now()
		if err := netctl.Do(ctx, n.Sync, netctl.Request{Op: netctl.OpKill, Instances: v.Indices}); err != nil {
			return err
		}
		env.RecordMessage("killed executors %v (%d of %d) at %s", v.Indices, k, executors, v.KillAt.Format(time.RFC3339Nano))
		if _, err := n.Sync.Publish(ctx, "killed", v); err != nil {
			return err
		}
	} else if k > 0 {
		got, err := tgsync.Collect[victims](ctx, n.Sync, "killed", 1)
		if err != nil {
			return err
		}
		v = got[0]
	}
	outcomes := <-results

	dead := map[string]bool{}
	for _, i := range v.Indices {
		dead[n.Peers[i].ID] = true
	}
	var lost, dup []string
	for i, o := range outcomes {
		if !o.Completed() {
			lost = append(lost, fmt.Sprintf("%s (%s)", specs[i].Name, state(o.Job)))
			if o.ID != "" {
				n.LogJob(o.ID)
			}
			env.RecordPoint("job_completed", 0)
			continue
		}
		env.RecordPoint("job_completed", 1)
		env.RecordPoint("job_latency_ms", planutil.Ms(o.Latency))
		if len(o.Job.Receipts) != 1 {
			dup = append(dup, fmt.Sprintf("%s (%d receipts)", specs[i].Name, len(o.Job.Receipts)))
		}
		affected := false
		for _, a := range o.Job.Awards {
			if dead[a.Executor] && a.Time.Before(v.KillAt) {
				affected = true
			}
		}
		env.RecordPoint("affected", b2f(affected))
		if affected && !v.KillAt.IsZero() {
			env.RecordPoint("recovery_ms", planutil.Ms(o.Submitted.Add(o.Latency).Sub(v.KillAt)))
		}
		// A receipt of a killed executor is a duplicate only if it says the
		// run ended after the kill; one that finished just before is the
		// job's honest result.
		if dead[o.Executor] && o.Job.Receipts[0].Finished.After(v.KillAt) {
			dup = append(dup, fmt.Sprintf("%s completed on killed executor %s (finished %s after the kill)", specs[i].Name, o.Executor, o.Job.Receipts[0].Finished.Sub(v.KillAt)))
		}
	}
	env.RecordPoint("lost", float64(len(lost)))
	env.RecordPoint("duplicated", float64(len(dup)))
	if err := finish(n, total-k); err != nil {
		return err
	}
	var errs []error
	if len(lost) > 0 {
		errs = append(errs, fmt.Errorf("%d of %d jobs lost: %v", len(lost), len(specs), lost))
	}
	if len(dup) > 0 {
		errs = append(errs, fmt.Errorf("%d jobs completed more than once: %v", len(dup), dup))
	}
	return errors.Join(errs...)
}

// runExecutor serves jobs until the requesters are done; a victim reports
// success, tells the coordinator it is ready, and waits to be killed.
func runExecutor(n *planutil.Node, k int) error {
	ctx := n.Ctx()
	if k > 0 {
		got, err := tgsync.Collect[victims](ctx, n.Sync, "victims", 1)
		if err != nil {
			return err
		}
		for _, i := range got[0].Indices {
			if i == n.Self.Index {
				n.Env.RecordMessage("chosen to be killed; my part is done")
				n.Env.RecordSuccess()
				if _, err := n.Sync.SignalEntry(ctx, "victim-ready"); err != nil {
					return err
				}
				<-n.IC.Ctx.Done() // the runner kills this instance
				return nil
			}
		}
	}
	return finish(n, n.Env.TestInstanceCount-k)
}

// finish waits for the surviving instances, then closes the node.
func finish(n *planutil.Node, survivors int) error {
	_, err := planutil.Wait(n.Ctx(), n.Sync, "survivors-done", survivors)
	n.Close()
	return err
}

// pickVictims prefers executors running the coordinator's jobs right now,
// so the kill interrupts work, then the lowest other executors.
func pickVictims(n *planutil.Node, requesters, k int) []int {
	busy := map[int]int{}
	for _, j := range n.Market.Jobs().List() {
		full, err := n.Market.Jobs().Get(j.ID)
		if err != nil || full.State.Terminal() {
			continue
		}
		for _, a := range full.Awards {
			switch a.State {
			case "accepted", "fetching", "running":
				if i := n.IndexOf(a.Executor); i >= requesters {
					busy[i]++
				}
			}
		}
	}
	cands := make([]int, 0, len(n.Peers))
	for i := requesters; i < len(n.Peers); i++ {
		cands = append(cands, i)
	}
	sort.SliceStable(cands, func(a, b int) bool { return busy[cands[a]] > busy[cands[b]] })
	out := append([]int(nil), cands[:k]...)
	sort.Ints(out)
	return out
}

func state(j *market.Job) string {
	if j == nil {
		return "not submitted"
	}
	if j.Error != "" {
		return fmt.Sprintf("%s: %s", j.State, j.Error)
	}
	return string(j.State)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
