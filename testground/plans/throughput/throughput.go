// Package throughput is the throughput plan: the requesters submit
// stateless jobs (no inputs, so any bidder is as good as another) with a
// bounded number in flight each; the coordinator divides the jobs
// completed by the time from the first submission to the last completion.
package throughput

import (
	_ "embed"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/testground/plans/internal/planutil"
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

type summary struct {
	Index     int       `json:"index"`
	Jobs      int       `json:"jobs"`
	Completed int       `json:"completed"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
}

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
	module, err := n.AddModule(ctx, env.DurationParam("job_time"), "done\n")
	if err != nil {
		return err
	}
	requesters := env.IntParam("requesters")
	if requesters <= 0 || requesters > total {
		requesters = total
	}
	jobs := env.IntParam("jobs")
	mine := 0
	if me < requesters {
		mine = jobs / requesters
		if me < jobs%requesters {
			mine++
		}
	}
	var others []peer.ID
	if env.BooleanParam("remote_only") {
		r := rand.New(rand.NewPCG(uint64(me), 3))
		for _, i := range r.Perm(total) {
			if i != me && len(others) < jobspec.MaxPeers {
				id, err := peer.Decode(n.Peers[i].ID)
				if err != nil {
					return err
				}
				others = append(others, id)
			}
		}
	}
	var specs []*jobspec.Spec
	for j := 0; j < mine; j++ {
		s := planutil.Spec(fmt.Sprintf("throughput-%d-%d", me, j), module, nil)
		s.Constraints.Executors.Peers = others
		specs = append(specs, s)
	}
	if err := n.Wait("go"); err != nil {
		return err
	}
	s := summary{Index: me, Jobs: len(specs), Start: time.Now()}
	outcomes := n.RunMany(ctx, specs, env.IntParam("concurrency"))
	s.End = time.Now()
	var failed []string
	for i, o := range outcomes {
		if !o.Completed() {
			failed = append(failed, specs[i].Name)
			env.RecordPoint("job_completed", 0)
			continue
		}
		s.Completed++
		env.RecordPoint("job_completed", 1)
		env.RecordPoint("job_latency_ms", planutil.Ms(o.Latency))
		env.RecordPoint("ran_locally", b2f(o.Executor == n.Self.ID))
	}
	if _, err := n.Sync.Publish(ctx, "summary", s); err != nil {
		return err
	}
	all, err := tgsync.Collect[summary](ctx, n.Sync, "summary", total)
	if err != nil {
		return err
	}
	if err := n.Finish(); err != nil {
		return err
	}
	if me == 0 {
		var first, last time.Time
		done := 0
		for _, x := range all {
			if x.Jobs == 0 {
				continue
			}
			done += x.Completed
			if first.IsZero() || x.Start.Before(first) {
				first = x.Start
			}
			if x.End.After(last) {
				last = x.End
			}
		}
		if el := last.Sub(first); el > 0 {
			rate := float64(done) / el.Seconds()
			env.RecordPoint("jobs_per_s", rate)
			env.RecordPoint("nodes", float64(total))
			env.RecordMessage("%d jobs in %s on %d nodes: %.1f jobs/s", done, el.Round(time.Millisecond), total, rate)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d jobs did not complete: %v", len(failed), len(specs), failed)
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
