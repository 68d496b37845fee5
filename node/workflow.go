package node

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/bidding/workflow"
	"github.com/shoalnet/shoal/internal/logging"
)

// startWorkflows opens the workflow runner on the node's datastore
// (/workflows): runs in flight when the node stopped resume now.
func (n *Node) startWorkflows(ctx context.Context) error {
	r, err := workflow.New(ctx, workflow.Config{
		Store:    namespace.Wrap(n.Store, ds.NewKey("/workflows")),
		Jobs:     &marketJobs{n: n, m: n.Market},
		Resolver: &contentResolver{n: n},
		Logger:   logging.Logger("workflow"),
	})
	if err != nil {
		return err
	}
	n.Workflows = r
	n.closers = append(n.closers, r.Close)
	return nil
}

// marketJobs runs workflow steps as jobs of the node: through its entry
// point that submits any spec, so a step may be a partitioned job.
type marketJobs struct {
	n *Node
	m *market.Market
}

var _ workflow.Jobs = (*marketJobs)(nil)

func (j *marketJobs) Submit(ctx context.Context, spec *jobspec.Spec) (cid.Cid, error) {
	id, _, err := j.n.SubmitJob(ctx, spec, market.SubmitOptions{})
	return id, err
}

func (j *marketJobs) Cancel(ctx context.Context, id cid.Cid) error {
	return j.n.CancelJob(ctx, id.String())
}

// Wait follows the job's events until it is terminal, then reads its
// record.
func (j *marketJobs) Wait(ctx context.Context, id cid.Cid) (workflow.Result, error) {
	for {
		ch, rec, stop, err := j.m.Jobs().Watch(id.String())
		if err != nil {
			return workflow.Result{}, err
		}
		if rec.State.Terminal() {
			stop()
			return jobResult(rec), nil
		}
		for open := true; open; {
			select {
			case _, open = <-ch:
			case <-ctx.Done():
				stop()
				return workflow.Result{}, ctx.Err()
			}
		}
		stop()
		// Closed: the job ended (or the watcher fell behind); the loop
		// re-reads the record.
	}
}

// jobResult turns a terminal job record into a step's result.
func jobResult(j *market.Job) workflow.Result {
	res := workflow.Result{Completed: j.State == market.Completed, Error: j.Error}
	if res.Error == "" && !res.Completed {
		res.Error = fmt.Sprintf("the job was %s", j.State)
	}
	if p := j.Partition; p != nil { // a partitioned step: its result directory
		if c, err := cid.Decode(p.Result); err == nil {
			res.Outputs = c
		}
	}
	for _, rc := range j.Receipts {
		if rc.Late {
			continue
		}
		res.Executor, res.Started, res.Finished, res.Reused = rc.Executor, rc.Started, rc.Finished, rc.Reused
		if c, err := cid.Decode(rc.Outputs); err == nil {
			res.Outputs = c
		}
		if rc.Error != "" && res.Error == "" && !res.Completed {
			res.Error = rc.Error
		}
		break
	}
	// The inputs' size is the largest total a bidder claimed (a bidder
	// that lacks an input's root cannot size it); what the executor did
	// not hold when it bid crossed the network.
	var held int64
	for _, b := range j.Bids {
		res.InputBytes = max(res.InputBytes, b.TotalBytes)
		if b.Peer == res.Executor {
			held = b.LocalBytes
		}
	}
	if res.Executor != "" {
		res.HeldBytes = held
		res.FetchedBytes = max(res.InputBytes-held, 0)
	}
	if res.Started.IsZero() {
		res.Started = j.Created
	}
	return res
}

// contentResolver resolves paths inside outputs through the node's content
// layer, fetching only the directory blocks on the way.
type contentResolver struct{ n *Node }

func (c *contentResolver) Resolve(ctx context.Context, root cid.Cid, sub string) (cid.Cid, int64, error) {
	return c.n.Content.ResolvePath(ctx, root, sub)
}
