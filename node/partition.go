package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/content"
)

// Partitioned jobs (docs/jobspec.md, partition): the requester keeps a
// parent record in the market's job store (Type market.PartitionType)
// and runs each task as an ordinary job of the market, placed on its own
// through the bids (so on its shard's holder). The runner here is the
// parent's driver: it submits tasks (at most max_parallel in flight),
// retries a failed one elsewhere, and once all completed builds the
// result directory from the tasks' output CIDs without fetching them.
// The parent's record is its state: a restarted requester resumes it, and
// a task that completed is not run again (the market returns its record).

// Bounds of the partition runner.
const (
	// partitionPoll is how often a runner re-reads its tasks when no event
	// arrived (the store's watchers may miss events when slow).
	partitionPoll = 2 * time.Second
	// partitionListTimeout bounds reading a by: entry job's directory.
	partitionListTimeout = 30 * time.Second
	// resultTries is how many times building the result directory is
	// tried (it reads each output's root block) before the job fails.
	resultTries = 5
	// submitConcurrency bounds the task submissions in flight at once.
	submitConcurrency = 8
)

// ErrNotPartitioned is returned for a partition operation on an ordinary job.
var ErrNotPartitioned = errors.New("node: not a partitioned job")

// partitions runs the requester's partitioned jobs.
type partitions struct {
	n *Node

	mu    sync.Mutex
	loops map[string]*partLoop
	wg    sync.WaitGroup
}

// partLoop is a running runner: cancel stops it, done closes when it
// returned.
type partLoop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newPartitions(n *Node) *partitions {
	return &partitions{n: n, loops: map[string]*partLoop{}}
}

// SubmitJob submits any spec: a partitioned one as a parent record and
// its tasks, any other straight to the market. The job ID is the spec's
// CID either way; existing reports a job in flight or completed.
func (n *Node) SubmitJob(ctx context.Context, spec *jobspec.Spec, opts market.SubmitOptions) (id cid.Cid, existing bool, err error) {
	if spec.Partition == nil {
		return n.Market.SubmitWith(ctx, spec, opts)
	}
	return n.parts.submit(ctx, spec, opts)
}

// CancelJob cancels a job: a partitioned one with its tasks in flight.
func (n *Node) CancelJob(ctx context.Context, id string) error {
	j, err := n.Market.Jobs().Get(id)
	if err != nil {
		return err
	}
	if j.Type != market.PartitionType {
		return n.Market.Cancel(ctx, id)
	}
	return n.parts.cancel(ctx, id)
}

// JobResult returns a job's state and, once it completed, the CID of its
// outputs: a partitioned job's result directory (each task's outputs
// under /<index>/), an ordinary job's outputs (of its first receipt).
func (n *Node) JobResult(id string) (market.State, cid.Cid, error) {
	j, err := n.Market.Jobs().Get(id)
	if err != nil {
		return "", cid.Undef, err
	}
	if j.State != market.Completed {
		return j.State, cid.Undef, nil
	}
	out := ""
	switch {
	case j.Partition != nil:
		out = j.Partition.Result
	case len(j.Receipts) > 0:
		out = j.Receipts[0].Outputs
	}
	if out == "" {
		return j.State, cid.Undef, nil
	}
	c, err := cid.Decode(out)
	return j.State, c, err
}

func (p *partitions) submit(ctx context.Context, spec *jobspec.Spec, opts market.SubmitOptions) (cid.Cid, bool, error) {
	if len(opts.Secrets) > 0 {
		return cid.Undef, false, fmt.Errorf("%w: a partitioned job cannot take secrets", jobspec.ErrInvalid)
	}
	block, id, err := jobspec.Encode(spec)
	if err != nil {
		return cid.Undef, false, err
	}
	jobs := p.n.Market.Jobs()
	old, err := jobs.Get(id.String())
	switch {
	case err == nil && old.Type != market.PartitionType:
		return cid.Undef, false, fmt.Errorf("job %s exists and is not a partitioned job", id)
	case err == nil && !old.State.Terminal(), err == nil && old.State == market.Completed && !opts.NoReuse:
		return id, true, nil
	case err != nil && !errors.Is(err, market.ErrJobNotFound):
		return cid.Undef, false, err
	}
	shards, err := p.shards(ctx, spec)
	if err != nil {
		return cid.Undef, false, err
	}
	b, err := blocks.NewBlockWithCid(block, id)
	if err != nil {
		return cid.Undef, false, err
	}
	if err := p.n.Content.PutBlock(ctx, b); err != nil {
		return cid.Undef, false, fmt.Errorf("store job spec: %w", err)
	}
	info := &market.PartitionInfo{By: string(spec.Partition.By), Input: spec.Partition.Input, MaxParallel: spec.Partition.MaxParallel,
		Retries: spec.Partition.RetryCount()}
	for i, sh := range shards {
		t, err := spec.Task(id, shards, i)
		if err != nil {
			return cid.Undef, false, err
		}
		tid, err := jobspec.JobID(t)
		if err != nil {
			return cid.Undef, false, err
		}
		info.Tasks = append(info.Tasks, market.TaskInfo{Index: i, Shard: sh.Name, CID: cidText(sh.Input.CID), Job: tid.String()})
	}
	now := time.Now()
	msg := fmt.Sprintf("submitted: %d task(s), by %s", len(shards), spec.Partition.By)
	if old == nil {
		j := &market.Job{ID: id.String(), Name: spec.Name, Type: market.PartitionType, Engine: spec.Engine.Kind(), Count: len(shards),
			State: market.Pending, Created: now, Updated: now, NoReuse: opts.NoReuse, Partition: info}
		j.Log(market.Event{Time: now, Type: "state", State: market.Pending, Message: msg})
		if err := jobs.Create(ctx, j); err != nil {
			if errors.Is(err, market.ErrJobExists) {
				return id, true, nil
			}
			return cid.Undef, false, err
		}
	} else {
		// A new run of a failed, cancelled or (--no-reuse) completed job:
		// tasks that completed stay done unless --no-reuse.
		err := jobs.Update(ctx, id.String(), func(j *market.Job) error {
			if !j.State.Terminal() {
				return errRunning
			}
			for i := range info.Tasks {
				if prev := j.Partition; prev != nil && i < len(prev.Tasks) && prev.Tasks[i].Job == info.Tasks[i].Job &&
					prev.Tasks[i].State == market.Completed && !opts.NoReuse {
					info.Tasks[i] = prev.Tasks[i]
				}
			}
			j.Partition, j.State, j.Error, j.ErrorCode, j.Created, j.NoReuse = info, market.Pending, "", "", now, opts.NoReuse
			j.Log(market.Event{Time: now, Type: "state", State: market.Pending, Message: "re" + msg})
			return nil
		})
		if errors.Is(err, errRunning) {
			return id, true, nil
		}
		if err != nil {
			return cid.Undef, false, err
		}
		if err := jobs.Sync(ctx, id.String()); err != nil {
			return cid.Undef, false, err
		}
	}
	p.start(id.String())
	return id, false, nil
}

var errRunning = errors.New("job is running")

// shards lists the job's shards: a by: entry job's from its directory's
// own blocks (no entry is fetched).
func (p *partitions) shards(ctx context.Context, spec *jobspec.Spec) ([]jobspec.Shard, error) {
	var entries []jobspec.DirEntry
	if in, ok := spec.PartitionInput(); ok {
		lctx, cancel := context.WithTimeout(ctx, partitionListTimeout)
		defer cancel()
		links, err := p.n.Content.DirLinks(lctx, in.CID)
		if errors.Is(err, content.ErrNotADirectory) {
			return nil, fmt.Errorf("%w: partition: the input at %s (%s) is not a directory: by: entry splits a directory into one task per entry (build one from CIDs with shoal dir make), or use by: input", jobspec.ErrInvalid, in.Path, in.CID)
		}
		if err != nil {
			return nil, fmt.Errorf("partition: list the directory input at %s: %w", in.Path, err)
		}
		for _, l := range links {
			entries = append(entries, jobspec.DirEntry{Name: l.Name, CID: l.CID})
		}
	}
	return spec.Shards(entries)
}

// resume starts the runners of partitioned jobs in flight when the node
// stopped.
func (p *partitions) resume() {
	for _, j := range p.n.Market.Jobs().List() {
		if j.Type == market.PartitionType && !j.State.Terminal() {
			log.Info("resuming partitioned job", "job", j.ID, "state", j.State)
			p.start(j.ID)
		}
	}
}

func (p *partitions) start(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.loops[id]; ok {
		return
	}
	ctx, cancel := context.WithCancel(p.n.ctx)
	l := &partLoop{cancel: cancel, done: make(chan struct{})}
	p.loops[id] = l
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			delete(p.loops, id)
			p.mu.Unlock()
			cancel()
			close(l.done)
		}()
		p.run(ctx, id)
	}()
}

// stop stops id's runner and waits until it returned (so it submits
// nothing more).
func (p *partitions) stop(id string) {
	p.mu.Lock()
	l := p.loops[id]
	p.mu.Unlock()
	if l != nil {
		l.cancel()
		<-l.done
	}
}

// Close stops the runners (the records stay; a restart resumes them).
func (p *partitions) Close() error {
	p.mu.Lock()
	for _, l := range p.loops {
		l.cancel()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *partitions) cancel(ctx context.Context, id string) error {
	jobs := p.n.Market.Jobs()
	j, err := jobs.Get(id)
	if err != nil {
		return err
	}
	if j.State.Terminal() {
		return fmt.Errorf("job %s is already %s", id, j.State)
	}
	p.stop(id)
	if j, err = jobs.Get(id); err != nil {
		return err
	}
	for _, t := range j.Partition.Tasks {
		if c, err := jobs.Get(t.Job); err == nil && !c.State.Terminal() {
			_ = p.n.Market.Cancel(ctx, t.Job)
		}
	}
	return jobs.Update(ctx, id, func(j *market.Job) error {
		if j.State.Terminal() {
			return nil
		}
		j.State, j.ErrorCode, j.Error = market.Cancelled, bidding.CodeCancelled, "cancelled by the requester"
		j.Log(market.Event{Type: "state", State: market.Cancelled, Message: "cancelled by the requester: tasks in flight cancelled"})
		return nil
	})
}

// runner is one partitioned job's driver.
type runner struct {
	p     *partitions
	id    string
	tasks []*jobspec.Spec
	fails int // failed attempts to build the result
}

func (p *partitions) run(ctx context.Context, id string) {
	jobs := p.n.Market.Jobs()
	events, unwatch := jobs.WatchAll()
	defer unwatch()
	r := &runner{p: p, id: id}
	if err := r.load(ctx); err != nil {
		r.finish(ctx, market.Failed, bidding.CodeBadSpec, err.Error(), "")
		return
	}
	mine := map[string]bool{id: true}
	for _, t := range r.tasks {
		id, _ := jobspec.JobID(t)
		mine[id.String()] = true
	}
	tick := time.NewTicker(partitionPoll)
	defer tick.Stop()
	for {
		if r.step(ctx) {
			return
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				break wait
			case e, ok := <-events:
				if !ok {
					return
				}
				if mine[e.Job] && e.Job != id && e.Type == "state" {
					break wait
				}
			}
		}
	}
}

// load derives the tasks' specs from the parent's spec and record.
func (r *runner) load(ctx context.Context) error {
	n := r.p.n
	j, err := n.Market.Jobs().Get(r.id)
	if err != nil {
		return err
	}
	id, err := cid.Decode(r.id)
	if err != nil {
		return err
	}
	b, err := n.Content.GetBlock(ctx, id)
	if err != nil {
		return fmt.Errorf("job spec block unavailable: %w", err)
	}
	spec, err := jobspec.Decode(b.RawData())
	if err != nil {
		return fmt.Errorf("job spec: %w", err)
	}
	if spec.Partition == nil || j.Partition == nil {
		return ErrNotPartitioned
	}
	var shards []jobspec.Shard
	if spec.Partition.By == jobspec.ByEntry {
		for _, t := range j.Partition.Tasks {
			c, err := cid.Decode(t.CID)
			if err != nil {
				return fmt.Errorf("task %d: shard CID: %w", t.Index, err)
			}
			shards = append(shards, jobspec.Shard{Name: t.Shard, Input: jobspec.Input{CID: c, Path: spec.Partition.Input + "/" + t.Shard}})
		}
	} else if shards, err = spec.Shards(nil); err != nil {
		return err
	}
	for i := range shards {
		t, err := spec.Task(id, shards, i)
		if err != nil {
			return err
		}
		if tid, err := jobspec.JobID(t); err != nil || tid.String() != j.Partition.Tasks[i].Job {
			return fmt.Errorf("task %d: its spec does not give the recorded job ID %s", i, j.Partition.Tasks[i].Job)
		}
		r.tasks = append(r.tasks, t)
	}
	return nil
}

// step reads the tasks, plans and acts; it reports whether the job ended.
func (r *runner) step(ctx context.Context) bool {
	n := r.p.n
	jobs := n.Market.Jobs()
	j, err := jobs.Get(r.id)
	if err != nil || j.State.Terminal() || j.Partition == nil {
		return true
	}
	info := j.Partition.Clone()
	runs := make([]taskRun, len(info.Tasks))
	for i, t := range info.Tasks {
		c, err := jobs.Get(t.Job)
		if err != nil {
			continue
		}
		runs[i] = runOf(c)
	}
	plan := planPartition(info, runs)
	for _, id := range plan.cancel {
		_ = n.Market.Cancel(ctx, id)
	}
	// Tasks are submitted a few at a time: each costs a spec block and
	// a synced job record, and they are independent.
	errs := make([]error, len(plan.submit))
	var wg sync.WaitGroup
	sem := make(chan struct{}, submitConcurrency)
	for k, i := range plan.submit {
		t := info.Tasks[i]
		var exclude []peer.ID
		for _, x := range t.Failed {
			if p, err := peer.Decode(x); err == nil {
				exclude = append(exclude, p)
			}
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, _, errs[k] = n.Market.SubmitWith(ctx, r.tasks[i], market.SubmitOptions{Parent: r.id, NoReuse: j.NoReuse, Exclude: exclude})
		})
	}
	wg.Wait()
	var submitted []string
	for k, i := range plan.submit {
		t := &info.Tasks[i]
		if err := errs[k]; err != nil {
			if ctx.Err() != nil {
				return true
			}
			if plan.fail == "" {
				plan.fail = fmt.Sprintf("task %d (%s): submit: %v", i, t.Shard, err)
			}
			continue
		}
		t.Attempts++
		t.State = market.Pending
		submitted = append(submitted, strconv.Itoa(i))
	}
	var result string
	if plan.complete && plan.fail == "" {
		links := make([]content.Link, len(info.Tasks))
		for i, t := range info.Tasks {
			c, err := cid.Decode(t.Outputs)
			if err != nil {
				plan.fail = fmt.Sprintf("task %d (%s) completed without an outputs CID", i, t.Shard)
				break
			}
			links[i] = content.Link{Name: strconv.Itoa(i), CID: c}
		}
		if plan.fail == "" {
			c, err := n.Content.MakeDir(ctx, links)
			switch {
			case err == nil:
				result = c.String()
			case ctx.Err() != nil:
				return true
			default:
				if r.fails++; r.fails >= resultTries {
					plan.fail = fmt.Sprintf("build the result directory: %v", err)
				} else {
					plan.complete = false
					plan.events = append(plan.events, fmt.Sprintf("building the result directory failed (%v); trying again", err))
				}
			}
		}
	}
	err = jobs.Update(context.Background(), r.id, func(j *market.Job) error {
		if j.State.Terminal() {
			return errJobEnded
		}
		j.Partition = info
		for _, m := range plan.events {
			j.Log(market.Event{Type: "task", Message: m})
		}
		if len(submitted) > 0 {
			j.Log(market.Event{Type: "task", Message: fmt.Sprintf("submitted task(s) %s", joinShort(submitted))})
		}
		switch {
		case plan.fail != "":
			code := plan.code
			if code == "" {
				code = bidding.CodeExitNonZero
			}
			j.State, j.ErrorCode, j.Error = market.Failed, code, plan.fail
			j.Log(market.Event{Type: "state", State: market.Failed, Message: plan.fail})
		case plan.complete:
			info.Result = result
			j.State = market.Completed
			j.Log(market.Event{Type: "state", State: market.Completed, Message: fmt.Sprintf("completed: %d task(s); result %s", len(info.Tasks), result)})
		case plan.running && j.State != market.Running:
			j.State = market.Running
			j.Log(market.Event{Type: "state", State: market.Running, Message: "tasks running"})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errJobEnded) {
		log.Warn("partitioned job: record update failed", "job", r.id, "err", err)
	}
	return plan.fail != "" || plan.complete || errors.Is(err, errJobEnded)
}

var errJobEnded = errors.New("job ended")

func (r *runner) finish(ctx context.Context, state market.State, code bidding.Code, msg, result string) {
	err := r.p.n.Market.Jobs().Update(ctx, r.id, func(j *market.Job) error {
		if j.State.Terminal() {
			return errJobEnded
		}
		j.State, j.ErrorCode, j.Error = state, code, msg
		j.Log(market.Event{Type: "state", State: state, Message: msg})
		return nil
	})
	if err != nil && !errors.Is(err, errJobEnded) {
		log.Warn("partitioned job: record update failed", "job", r.id, "err", err)
	}
}

// runOf is what the planner needs of a task's job record.
func runOf(c *market.Job) taskRun {
	r := taskRun{found: true, state: c.State, err: c.Error, code: c.ErrorCode}
	for _, rc := range c.Receipts {
		if rc.Error == "" && rc.ExitCode == 0 {
			if r.outputs == "" {
				r.outputs = rc.Outputs
			}
			continue
		}
		r.failed = append(r.failed, rc.Executor)
	}
	for _, a := range c.Awards {
		if (a.State == "failed" || a.State == "lost") && a.Executor != "" {
			r.failed = append(r.failed, a.Executor)
		}
	}
	return r
}

func joinShort(xs []string) string {
	if len(xs) > 8 {
		return fmt.Sprintf("%s ... %s (%d)", joinComma(xs[:4]), xs[len(xs)-1], len(xs))
	}
	return joinComma(xs)
}

func joinComma(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

func cidText(c cid.Cid) string {
	if !c.Defined() {
		return ""
	}
	return c.String()
}
