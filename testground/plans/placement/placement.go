// Package placement is the placement plan: every instance adds data, the
// requesters submit jobs that each read one data item held by another
// instance, and the plan records where each job ran (on a holder of its
// input, on its requester, elsewhere) and how long it took.
package placement

import (
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ipfs/go-cid"

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

type dataRecord struct {
	Index int      `json:"index"`
	CIDs  []string `json:"cids"`
}

type summary struct {
	Index     int `json:"index"`
	Jobs      int `json:"jobs"`
	Completed int `json:"completed"`
	OnHolder  int `json:"on_holder"`
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

	module, err := n.AddModule(ctx, env.DurationParam("job_time"), "placed\n")
	if err != nil {
		return err
	}
	var mine []string
	for k := 0; k < env.IntParam("items"); k++ {
		c, err := n.AddBytes(ctx, dataItem(me, k, env.IntParam("data_size")))
		if err != nil {
			return err
		}
		// Provide now, so direct asks find the holder from the first job.
		if err := n.Content.Provide(ctx, c); err != nil {
			env.RecordMessage("provide %s: %v", c, err)
		}
		mine = append(mine, c.String())
	}
	if _, err := n.Sync.Publish(ctx, "data", dataRecord{Index: me, CIDs: mine}); err != nil {
		return err
	}
	recs, err := tgsync.Collect[dataRecord](ctx, n.Sync, "data", total)
	if err != nil {
		return err
	}
	type item struct {
		c      cid.Cid
		holder int
	}
	var items []item
	for _, r := range recs {
		for _, s := range r.CIDs {
			c, err := cid.Decode(s)
			if err != nil {
				return err
			}
			items = append(items, item{c, r.Index})
		}
	}
	if err := n.Wait("data-ready"); err != nil {
		return err
	}

	requesters := env.IntParam("requesters")
	if requesters <= 0 || requesters > total {
		requesters = total
	}
	jobs := env.IntParam("jobs")
	myJobs := 0
	if me < requesters {
		myJobs = jobs / requesters
		if me < jobs%requesters {
			myJobs++
		}
	}
	r := rand.New(rand.NewPCG(uint64(me), 42))
	var specs []*jobspec.Spec
	var holders []int
	for j := 0; j < myJobs; j++ {
		it := items[r.IntN(len(items))]
		for tries := 0; it.holder == me && total > 1 && tries < 100; tries++ {
			it = items[r.IntN(len(items))]
		}
		specs = append(specs, planutil.Spec(fmt.Sprintf("placement-%d-%d", me, j), module, []cid.Cid{it.c}))
		holders = append(holders, it.holder)
	}
	env.RecordMessage("submitting %d jobs, %d at a time", len(specs), env.IntParam("concurrency"))
	outcomes := n.RunMany(ctx, specs, env.IntParam("concurrency"))

	s := summary{Index: me, Jobs: len(specs)}
	var failed []string
	for i, o := range outcomes {
		if !o.Completed() {
			failed = append(failed, fmt.Sprintf("%s: %s", specs[i].Name, describe(o)))
			env.RecordPoint("job_completed", 0)
			continue
		}
		s.Completed++
		env.RecordPoint("job_completed", 1)
		env.RecordPoint("job_latency_ms", planutil.Ms(o.Latency))
		// On a holder: the node the item was added to, or any executor
		// whose bid said it held the whole input (it fetched the item for
		// an earlier job).
		onHolder := o.Executor == n.Peers[holders[i]].ID || heldByExecutor(o)
		onReq := o.Executor == n.Self.ID
		env.RecordPoint("on_holder", b2f(onHolder))
		env.RecordPoint("on_requester", b2f(onReq && !onHolder))
		env.RecordPoint("elsewhere", b2f(!onReq && !onHolder))
		if onHolder {
			s.OnHolder++
		} else if env.BooleanParam("log_misplaced") {
			env.RecordMessage("job %s ran on instance %d, not on holder %d; %d bids, %d declines", specs[i].Name, n.IndexOf(o.Executor), holders[i], len(o.Job.Bids), len(o.Job.Declines))
			for _, b := range o.Job.Bids {
				if b.LocalBytes > 0 || n.IndexOf(b.Peer) == holders[i] || b.Peer == o.Executor {
					env.RecordMessage("  bid from %d: local %d/%d slots %d queue %d after %s", n.IndexOf(b.Peer), b.LocalBytes, b.TotalBytes, b.FreeSlots, b.QueueDepth, b.Received.Sub(o.Submitted).Round(time.Millisecond))
				}
			}
			for _, d := range o.Job.Declines {
				env.RecordMessage("  decline from %d: %s %s", n.IndexOf(d.Peer), d.Code, d.Reason)
			}
			n.LogJob(o.ID)
		}
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
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d jobs did not complete: %s", len(failed), len(specs), first(failed, 3))
	}
	if me == 0 {
		var done, holder int
		for _, x := range all {
			done += x.Completed
			holder += x.OnHolder
		}
		frac := 0.0
		if done > 0 {
			frac = float64(holder) / float64(done)
		}
		env.RecordPoint("on_holder_fraction", frac)
		env.RecordMessage("%d jobs completed, %d (%.1f%%) on a holder of their input", done, holder, 100*frac)
		if min := env.FloatParam("min_on_holder"); frac < min {
			return fmt.Errorf("%.1f%% of jobs ran on a holder of their input, below the %.1f%% required", 100*frac, 100*min)
		}
	}
	return nil
}

func heldByExecutor(o *planutil.Outcome) bool {
	var total int64
	for _, b := range o.Job.Bids {
		total = max(total, b.TotalBytes)
	}
	for _, b := range o.Job.Bids {
		if b.Peer == o.Executor {
			return total > 0 && b.LocalBytes >= total
		}
	}
	return false
}

// dataItem is deterministic, distinct content for instance i's k-th item.
func dataItem(i, k, size int) []byte {
	out := make([]byte, 0, size+32)
	var seed [16]byte
	binary.BigEndian.PutUint64(seed[:8], uint64(i))
	binary.BigEndian.PutUint64(seed[8:], uint64(k))
	h := sha256.Sum256(seed[:])
	for len(out) < size {
		out = append(out, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return out[:size]
}

func describe(o *planutil.Outcome) string {
	switch {
	case o.Job == nil:
		return "not submitted"
	case o.Job.Error != "":
		return fmt.Sprintf("%s (%s)", o.Job.State, o.Job.Error)
	}
	return string(o.Job.State)
}

func first(s []string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("%v and %d more", s[:n], len(s)-n)
	}
	return fmt.Sprint(s)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
