package node

import (
	"fmt"
	"slices"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/market"
)

// taskRun is what the partition planner knows of a task's job record.
type taskRun struct {
	found   bool
	state   market.State
	failed  []string // executors this run failed on (receipts, failed awards)
	outputs string
	err     string
	code    bidding.Code
}

// partPlan is what to do next for a partitioned job.
type partPlan struct {
	// submit are the tasks to submit now, retries first; each excludes
	// the executors of its Failed.
	submit []int
	// cancel are job IDs of tasks in flight when the job failed.
	cancel []string
	// events to log on the parent, in order.
	events []string
	// running: some task was submitted (the parent is running).
	running bool
	// fail is why the job failed ("" if it did not), code its code.
	fail string
	code bidding.Code
	// complete: every task completed; the result can be built.
	complete bool
}

// planPartition decides a partitioned job's next step from its record p
// (updated in place: task states, attempts, failed executors, outputs)
// and its tasks' job records: completed tasks stay done, a failed task
// runs again (elsewhere) while it has retries left, else the job fails
// naming it; tasks are submitted in index order while fewer than
// p.MaxParallel are in flight (0: no bound). It is pure: the caller
// submits, cancels and records.
func planPartition(p *market.PartitionInfo, runs []taskRun) partPlan {
	var plan partPlan
	var retry, fresh []int
	inflight, done := 0, 0
	for i := range p.Tasks {
		t, r := &p.Tasks[i], runs[i]
		if t.Attempts > 0 {
			plan.running = true
		}
		switch {
		case t.Attempts == 0 || !r.found:
			fresh = append(fresh, i)
		case r.state == market.Completed:
			if t.State != market.Completed {
				t.State, t.Outputs = market.Completed, r.outputs
				plan.events = append(plan.events, fmt.Sprintf("task %d (%s) completed", i, t.Shard))
			}
			done++
		case r.state == market.Cancelled:
			t.State = r.state
			if plan.fail == "" {
				plan.fail, plan.code = fmt.Sprintf("task %d (%s, job %s) was cancelled", i, t.Shard, t.Job), bidding.CodeCancelled
			}
		case r.state == market.Failed:
			t.State = r.state
			for _, x := range r.failed {
				if !slices.Contains(t.Failed, x) {
					t.Failed = append(t.Failed, x)
				}
			}
			if t.Attempts <= p.Retries {
				retry = append(retry, i)
				plan.events = append(plan.events, fmt.Sprintf("task %d (%s) failed (%s); retrying on another node (attempt %d of %d)", i, t.Shard, r.err, t.Attempts+1, p.Retries+1))
				continue
			}
			if plan.fail == "" {
				plan.fail = fmt.Sprintf("task %d (%s, job %s) failed after %d attempt(s): %s", i, t.Shard, t.Job, t.Attempts, r.err)
				plan.code = r.code
			}
		default:
			t.State = r.state
			inflight++
		}
	}
	if plan.fail != "" {
		for i, t := range p.Tasks {
			if t.Attempts > 0 && runs[i].found && !runs[i].state.Terminal() {
				plan.cancel = append(plan.cancel, t.Job)
			}
		}
		return plan
	}
	if done == len(p.Tasks) {
		plan.complete = true
		return plan
	}
	for _, i := range append(retry, fresh...) {
		if p.MaxParallel > 0 && inflight >= p.MaxParallel {
			break
		}
		plan.submit = append(plan.submit, i)
		plan.running = true
		inflight++
	}
	return plan
}
