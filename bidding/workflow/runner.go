package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Jobs submits the steps' jobs and reports their results: the node gives
// the job market (node/workflow.go). Submitting the same spec twice must
// return the same job (its ID is the spec's CID) without running it again
// while it is in flight or after it completed.
type Jobs interface {
	Submit(ctx context.Context, spec *jobspec.Spec) (cid.Cid, error)
	// Wait blocks until the job ends (or ctx does) and gives its result.
	Wait(ctx context.Context, job cid.Cid) (Result, error)
	Cancel(ctx context.Context, job cid.Cid) error
}

// Result is how a step's job ended.
type Result struct {
	Completed bool
	// Outputs is the root CID of the outputs of a completed job.
	Outputs  cid.Cid
	Executor string
	// Error says why a job that did not complete failed.
	Error             string
	Started, Finished time.Time
	// InputBytes is the inputs' size as the bidders knew it; HeldBytes
	// how many of them the executor held when it bid; FetchedBytes the
	// difference (what crossed the network).
	InputBytes   int64
	HeldBytes    int64
	FetchedBytes int64
	Reused       bool
}

// Resolver finds the CID of the entry at sub (slash-separated; "" for root
// itself) inside the UnixFS directory root, and its size in bytes (-1 when
// unknown), fetching only the directory blocks on the way.
type Resolver interface {
	Resolve(ctx context.Context, root cid.Cid, sub string) (cid.Cid, int64, error)
}

// Config of a Runner.
type Config struct {
	// Store holds the runs' records and workflow blocks (the node gives
	// its datastore's /workflows namespace).
	Store    ds.Datastore
	Jobs     Jobs
	Resolver Resolver
	Logger   *slog.Logger
	// ResolveTimeout bounds the lookup of one sub-path input (default
	// DefaultResolveTimeout).
	ResolveTimeout time.Duration
}

// DefaultResolveTimeout bounds the lookup of a sub-path input.
const DefaultResolveTimeout = 2 * time.Minute

// Runner drives workflow runs on their requester: each step is submitted
// as soon as its inputs exist, a failed step fails its dependents, and the
// record of every change is written before it is acted on, so that a
// Runner opened on the same store resumes the runs in flight.
type Runner struct {
	cfg   Config
	st    store
	log   *slog.Logger
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	mu    sync.Mutex
	runs  map[string]*Run
	wfs   map[string]*Workflow
	kicks map[string]chan struct{}      // wakes a run's driver (cancel)
	watch map[string][]chan struct{}    // record changed
	live  map[string]context.CancelFunc // drivers running
}

// New opens the runs of cfg.Store and resumes those in flight.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Jobs == nil || cfg.Resolver == nil {
		return nil, errors.New("workflow: Store, Jobs and Resolver are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ResolveTimeout <= 0 {
		cfg.ResolveTimeout = DefaultResolveTimeout
	}
	rctx, stop := context.WithCancel(context.Background())
	r := &Runner{cfg: cfg, st: store{cfg.Store}, log: cfg.Logger, ctx: rctx, stop: stop,
		runs: map[string]*Run{}, wfs: map[string]*Workflow{}, kicks: map[string]chan struct{}{},
		watch: map[string][]chan struct{}{}, live: map[string]context.CancelFunc{}}
	runs, err := r.st.all(ctx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("workflow: open store: %w", err)
	}
	for _, run := range runs {
		r.runs[run.ID] = run
		if run.State.Terminal() {
			continue
		}
		block, err := r.st.block(ctx, run.ID)
		if err == nil {
			var w *Workflow
			if w, err = Decode(block); err == nil {
				r.wfs[run.ID] = w
				r.log.Info("resuming workflow", "workflow", run.ID, "name", run.Name)
				r.startDriver(run.ID)
				continue
			}
		}
		r.log.Warn("workflow record without a usable block", "workflow", run.ID, "err", err)
	}
	return r, nil
}

// Close stops the drivers; runs in flight stay in the store and resume
// with the next Runner. Safe to call twice.
func (r *Runner) Close() error {
	r.stop()
	r.wg.Wait()
	return nil
}

// Start runs the workflow of block (a canonical workflow block) and
// returns its ID. A workflow already running is returned as it is
// (existing=true); a completed one too; a failed or cancelled one runs
// again, keeping the steps that completed (their jobs are not rerun).
func (r *Runner) Start(ctx context.Context, block []byte) (id cid.Cid, existing bool, err error) {
	w, err := Decode(block)
	if err != nil {
		return cid.Undef, false, err
	}
	_, id, err = Encode(w)
	if err != nil {
		return cid.Undef, false, err
	}
	key := id.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.runs[key]; ok {
		if !old.State.Terminal() || old.State == Completed {
			return id, true, nil
		}
		run := old.clone()
		run.State, run.Error, run.Finished = Running, "", time.Time{}
		for i := range run.Steps {
			if s := &run.Steps[i]; s.State != StepCompleted {
				*s = StepRun{Name: s.Name, Needs: s.Needs, State: StepWaiting}
			}
		}
		if err := r.saveLocked(ctx, run); err != nil {
			return cid.Undef, false, err
		}
		r.wfs[key] = w
		r.startDriver(key)
		return id, true, nil
	}
	if err := r.st.putBlock(ctx, key, block); err != nil {
		return cid.Undef, false, fmt.Errorf("store workflow block: %w", err)
	}
	now := time.Now()
	run := &Run{ID: key, Name: w.Name, State: Running, Created: now}
	for i, s := range w.Steps {
		run.Steps = append(run.Steps, StepRun{Name: s.Name, State: StepWaiting, Needs: w.Needs(i)})
	}
	if err := r.saveLocked(ctx, run); err != nil {
		return cid.Undef, false, err
	}
	r.wfs[key] = w
	r.startDriver(key)
	return id, false, nil
}

// Block returns the stored block of a workflow this runner ran.
func (r *Runner) Block(ctx context.Context, id string) ([]byte, error) { return r.st.block(ctx, id) }

// Get returns a copy of a run's record.
func (r *Runner) Get(id string) (*Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run, ok := r.runs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return run.clone(), nil
}

// List returns copies of all runs, newest first.
func (r *Runner) List() []*Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Run, 0, len(r.runs))
	for _, run := range r.runs {
		out = append(out, run.clone())
	}
	sortRuns(out)
	return out
}

// WaitChange blocks until the run's record has a version above after, or
// the run ended, or ctx ends, and returns the record then.
func (r *Runner) WaitChange(ctx context.Context, id string, after int64) (*Run, error) {
	for {
		r.mu.Lock()
		run, ok := r.runs[id]
		if !ok {
			r.mu.Unlock()
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if run.Version > after || run.State.Terminal() {
			c := run.clone()
			r.mu.Unlock()
			return c, nil
		}
		ch := make(chan struct{}, 1)
		r.watch[id] = append(r.watch[id], ch)
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			r.mu.Lock()
			c := r.runs[id].clone()
			r.mu.Unlock()
			return c, ctx.Err()
		}
	}
}

// Cancel stops a run: the jobs of its running steps are cancelled, its
// waiting steps will not run.
func (r *Runner) Cancel(ctx context.Context, id string) error {
	r.mu.Lock()
	run, ok := r.runs[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if run.State.Terminal() {
		r.mu.Unlock()
		return fmt.Errorf("workflow %s is already %s", id, run.State)
	}
	c := run.clone()
	c.State = Cancelled
	c.Error = "cancelled"
	var jobs []string
	for i := range c.Steps {
		s := &c.Steps[i]
		if s.State == StepRunning && s.Job != "" {
			jobs = append(jobs, s.Job)
		}
		if !s.State.Terminal() {
			s.State, s.Error, s.Finished = StepCancelled, "the workflow was cancelled", time.Now()
		}
	}
	c.Finished = time.Now()
	err := r.saveLocked(ctx, c)
	if stop := r.live[id]; stop != nil {
		stop()
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if k, err := cid.Decode(j); err == nil {
			if err := r.cfg.Jobs.Cancel(ctx, k); err != nil {
				r.log.Debug("cancel step job", "workflow", id, "job", j, "err", err)
			}
		}
	}
	return nil
}

// saveLocked writes run and makes it the current record; r.mu is held.
func (r *Runner) saveLocked(ctx context.Context, run *Run) error {
	if old, ok := r.runs[run.ID]; ok {
		run.Version = old.Version + 1
	} else {
		run.Version = 1
	}
	run.Updated = time.Now()
	if err := r.st.put(ctx, run); err != nil {
		return err
	}
	r.runs[run.ID] = run
	for _, ch := range r.watch[run.ID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	delete(r.watch, run.ID)
	return nil
}

// update applies fn to a copy of the run and saves it, unless the run
// ended meanwhile (a cancel). It reports whether it saved.
func (r *Runner) update(id string, fn func(run *Run)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	run, ok := r.runs[id]
	if !ok || run.State.Terminal() {
		return false
	}
	c := run.clone()
	fn(c)
	if err := r.saveLocked(r.ctx, c); err != nil {
		r.log.Error("saving workflow record", "workflow", id, "err", err)
		return false
	}
	return true
}

func (r *Runner) startDriver(id string) {
	ctx, stop := context.WithCancel(r.ctx)
	r.live[id] = stop
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer stop()
		r.drive(ctx, id)
		r.mu.Lock()
		if r.ctx.Err() == nil {
			delete(r.live, id)
		}
		r.mu.Unlock()
	}()
}

type stepDone struct {
	i   int
	res Result
	err error
}

// drive runs one workflow until it ends or ctx does.
func (r *Runner) drive(ctx context.Context, id string) {
	r.mu.Lock()
	w := r.wfs[id]
	r.mu.Unlock()
	done := make(chan stepDone)
	inflight := map[int]bool{}
	wait := func(i int, job cid.Cid) {
		inflight[i] = true
		go func() {
			res, err := r.cfg.Jobs.Wait(ctx, job)
			select {
			case done <- stepDone{i: i, res: res, err: err}:
			case <-ctx.Done():
			}
		}()
	}
	// Steps submitted before a restart: follow their jobs again.
	if run, err := r.Get(id); err == nil {
		for i, s := range run.Steps {
			if s.State == StepRunning {
				if job, err := cid.Decode(s.Job); err == nil {
					wait(i, job)
				} else {
					r.update(id, func(run *Run) { run.Steps[i].State = StepWaiting })
				}
			}
		}
	}
	for {
		run, err := r.Get(id)
		if err != nil || run.State.Terminal() {
			return
		}
		p := Next(w, run.states())
		if len(p.Blocked) > 0 {
			r.update(id, func(run *Run) {
				for i, why := range p.Blocked {
					run.Steps[i].State, run.Steps[i].Error, run.Steps[i].Finished = StepFailed, "not run: "+why, time.Now()
				}
			})
			continue
		}
		if p.Done {
			r.finish(id)
			return
		}
		for _, i := range p.Ready {
			if inflight[i] {
				continue
			}
			job, fromBytes, err := r.submit(ctx, w, run, i)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				r.log.Info("workflow step not submitted", "workflow", id, "step", w.Steps[i].Name, "err", err)
				r.update(id, func(run *Run) {
					run.Steps[i].State, run.Steps[i].Error, run.Steps[i].Finished = StepFailed, err.Error(), time.Now()
				})
				continue
			}
			if !r.update(id, func(run *Run) {
				s := &run.Steps[i]
				s.State, s.Job, s.Submitted, s.FromBytes = StepRunning, job.String(), time.Now(), fromBytes
			}) {
				return
			}
			wait(i, job)
		}
		if len(inflight) == 0 {
			if len(p.Ready) == 0 {
				// Not done, nothing runs, nothing can: a record this
				// code did not write.
				r.log.Error("workflow stuck: no step can run", "workflow", id)
				return
			}
			continue // a submission failed: the next plan settles it
		}
		select {
		case <-ctx.Done():
			return
		case d := <-done:
			delete(inflight, d.i)
			if ctx.Err() != nil {
				return
			}
			r.update(id, func(run *Run) { applyResult(&run.Steps[d.i], d.res, d.err) })
		}
	}
}

func applyResult(s *StepRun, res Result, err error) {
	s.Finished = time.Now()
	s.Executor, s.Started = res.Executor, res.Started
	if !res.Finished.IsZero() {
		s.Finished = res.Finished
	}
	s.InputBytes, s.FetchedBytes, s.Reused = res.InputBytes, res.FetchedBytes, res.Reused
	if s.FromBytes > 0 && s.Executor != "" {
		// The requester sized the inputs that are other steps' outputs;
		// a bidder that lacks some of them could not.
		s.InputBytes = max(s.InputBytes, s.FromBytes)
		s.FetchedBytes = max(s.InputBytes-res.HeldBytes, 0)
	}
	switch {
	case err != nil:
		s.State, s.Error = StepFailed, err.Error()
	case res.Completed && res.Outputs.Defined():
		s.State, s.Outputs, s.Error = StepCompleted, res.Outputs.String(), ""
	case res.Completed:
		s.State, s.Error = StepFailed, "the job completed without an outputs root"
	default:
		s.State, s.Error = StepFailed, res.Error
	}
}

// submit makes step i's spec concrete from its inputs' outputs and
// submits it. It returns the job and the size of the inputs that are other
// steps' outputs (0 when unknown).
func (r *Runner) submit(ctx context.Context, w *Workflow, run *Run, i int) (cid.Cid, int64, error) {
	inputs := map[string]cid.Cid{}
	var total int64
	known := true
	for _, f := range w.Steps[i].From {
		out, err := cid.Decode(run.Steps[w.Index(f.Step)].Outputs)
		if err != nil {
			return cid.Undef, 0, fmt.Errorf("input %s: step %q has no outputs root: %w", f.Path, f.Step, err)
		}
		rctx, cancel := context.WithTimeout(ctx, r.cfg.ResolveTimeout)
		got, size, err := r.cfg.Resolver.Resolve(rctx, out, f.Sub)
		cancel()
		switch {
		case err != nil && f.Sub != "":
			return cid.Undef, 0, fmt.Errorf("input %s: %s in the outputs of step %q: %w", f.Path, f.Sub, f.Step, err)
		case err != nil:
			// The whole outputs: their CID is known; only the size is not.
			got, size = out, -1
		}
		if size < 0 {
			known = false
		}
		total += size
		inputs[f.Path] = got
	}
	spec, err := w.Concrete(i, inputs)
	if err != nil {
		return cid.Undef, 0, err
	}
	job, err := r.cfg.Jobs.Submit(ctx, spec)
	if !known {
		total = 0
	}
	return job, total, err
}

// finish settles a run whose steps all ended.
func (r *Runner) finish(id string) {
	r.update(id, func(run *Run) {
		run.State, run.Finished = Completed, time.Now()
		var failed []string
		for _, s := range run.Steps {
			if s.State != StepCompleted {
				failed = append(failed, s.Name)
			}
		}
		if len(failed) > 0 {
			run.State = Failed
			run.Error = fmt.Sprintf("%d of %d steps did not complete: %v", len(failed), len(run.Steps), failed)
		}
	})
	if run, err := r.Get(id); err == nil {
		r.log.Info("workflow ended", "workflow", id, "name", run.Name, "state", run.State)
	}
}

func sortRuns(out []*Run) {
	for i := 1; i < len(out); i++ {
		for k := i; k > 0 && out[k].Created.After(out[k-1].Created); k-- {
			out[k], out[k-1] = out[k-1], out[k]
		}
	}
}
