package workflow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// fakeJobs runs nothing: a test ends each job by hand. Submitting a spec
// twice gives the same job, as the market does.
type fakeJobs struct {
	mu        sync.Mutex
	submitted map[cid.Cid]int // submissions per job
	names     map[string]cid.Cid
	ends      map[cid.Cid]chan Result
	changed   chan struct{}
}

func newFakeJobs() *fakeJobs {
	return &fakeJobs{submitted: map[cid.Cid]int{}, names: map[string]cid.Cid{}, ends: map[cid.Cid]chan Result{}, changed: make(chan struct{}, 100)}
}

func (f *fakeJobs) Submit(ctx context.Context, spec *jobspec.Spec) (cid.Cid, error) {
	id, err := jobspec.JobID(spec)
	if err != nil {
		return cid.Undef, err
	}
	f.mu.Lock()
	f.submitted[id]++
	f.names[spec.Name] = id
	if f.ends[id] == nil {
		f.ends[id] = make(chan Result, 1)
	}
	f.mu.Unlock()
	f.changed <- struct{}{}
	return id, nil
}

func (f *fakeJobs) Wait(ctx context.Context, id cid.Cid) (Result, error) {
	f.mu.Lock()
	ch := f.ends[id]
	f.mu.Unlock()
	select {
	case r := <-ch:
		ch <- r // later waiters see it too
		return r, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

func (f *fakeJobs) Cancel(ctx context.Context, id cid.Cid) error { return nil }

// waitSubmitted waits until step name was submitted.
func (f *fakeJobs) waitSubmitted(t *testing.T, name string) cid.Cid {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		id, ok := f.names[name]
		f.mu.Unlock()
		if ok {
			return id
		}
		select {
		case <-f.changed:
		case <-deadline:
			t.Fatalf("step %s never submitted", name)
		}
	}
}

func (f *fakeJobs) end(name string, r Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ends[f.names[name]] <- r
}

type fakeResolver struct{}

func (fakeResolver) Resolve(ctx context.Context, root cid.Cid, sub string) (cid.Cid, int64, error) {
	if sub == "missing" {
		return cid.Undef, -1, errors.New("no entry")
	}
	if sub == "" {
		return root, 10, nil
	}
	return placeholder(root.String() + "/" + sub), 5, nil
}

func waitState(t *testing.T, r *Runner, id string, done func(*Run) bool) *Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v int64
	for {
		run, err := r.WaitChange(ctx, id, v)
		if err != nil {
			t.Fatalf("waiting for workflow %s: %v (last record %+v)", id, err, run)
		}
		if done(run) {
			return run
		}
		v = run.Version
		if run.State.Terminal() {
			t.Fatalf("workflow ended as %s before the expected state: %+v", run.State, run)
		}
	}
}

func ok(c string) Result {
	k, _ := cid.Decode(c)
	return Result{Completed: true, Outputs: k, Executor: "exec1"}
}

func TestRunnerFailureAndResume(t *testing.T) {
	// a -> c <- b; d independent; e after c.
	doc := fanIn + "  - name: d\n    engine: {wasm: {module: " + mod + "}}\n  - name: e\n    engine: {wasm: {module: " + mod + "}}\n    inputs: [{from: c/missing, path: /in}]\n"
	w, err := Parse([]byte(doc), "", jobspec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	block, wid, _ := Encode(w)
	store := dssync.MutexWrap(ds.NewMapDatastore())
	jobs := newFakeJobs()
	r, err := New(context.Background(), Config{Store: store, Jobs: jobs, Resolver: fakeResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	id, existing, err := r.Start(context.Background(), block)
	if err != nil || existing || id != wid {
		t.Fatalf("Start: %s %v %v", id, existing, err)
	}
	for _, s := range []string{"a", "b", "d"} {
		jobs.waitSubmitted(t, s)
	}
	jobs.end("a", ok(data))
	waitState(t, r, id.String(), func(run *Run) bool { return run.Steps[0].State == StepCompleted })

	// The requester stops with b and d running, and a new runner on the
	// same store resumes: nothing is submitted twice.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r, err = New(context.Background(), Config{Store: store, Jobs: jobs, Resolver: fakeResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	jobs.end("b", ok(data))
	jobs.waitSubmitted(t, "c")
	jobs.end("c", ok(mod))
	jobs.end("d", Result{Error: "exit 3"})
	run := waitState(t, r, id.String(), func(run *Run) bool { return run.State.Terminal() })
	if run.State != Failed {
		t.Fatalf("state %s, want failed", run.State)
	}
	want := map[string]StepState{"a": StepCompleted, "b": StepCompleted, "c": StepCompleted, "d": StepFailed, "e": StepFailed}
	for _, s := range run.Steps {
		if s.State != want[s.Name] {
			t.Errorf("step %s is %s, want %s (%s)", s.Name, s.State, want[s.Name], s.Error)
		}
	}
	if e := run.Steps[4]; e.Job != "" || e.Error == "" {
		t.Errorf("e (its input does not resolve) was submitted or has no reason: %+v", e)
	}
	jobs.mu.Lock()
	for k, n := range jobs.submitted {
		if n != 1 {
			t.Errorf("job %s submitted %d times", k, n)
		}
	}
	jobs.mu.Unlock()

	// Started again: the completed steps keep their results, the failed
	// ones run again (d's job, still failing, ends it again).
	if _, existing, err := r.Start(context.Background(), block); err != nil || !existing {
		t.Fatalf("restart: %v %v", existing, err)
	}
	run = waitState(t, r, id.String(), func(run *Run) bool {
		return run.State.Terminal() && run.Steps[3].Submitted.After(run.Created) && run.Version > 1
	})
	if run.Steps[0].State != StepCompleted || run.Steps[0].Outputs == "" {
		t.Fatalf("a lost its result: %+v", run.Steps[0])
	}
	jobs.mu.Lock()
	defer jobs.mu.Unlock()
	if n := jobs.submitted[jobs.names["d"]]; n != 2 {
		t.Errorf("d submitted %d times in all, want 2 (once per run)", n)
	}
	if n := jobs.submitted[jobs.names["a"]]; n != 1 {
		t.Errorf("a submitted %d times, want 1 (completed steps keep their result)", n)
	}
	if c := run.Steps[2]; c.FromBytes != 15 || c.InputBytes != 15 || c.FetchedBytes != 15 {
		t.Errorf("c's inputs from a (10 bytes) and b/table.txt (5): from %d, input %d, fetched %d", c.FromBytes, c.InputBytes, c.FetchedBytes)
	}
}

func TestRunnerCancel(t *testing.T) {
	w, _ := Parse([]byte(fanIn), "", jobspec.ParseOptions{})
	block, _, _ := Encode(w)
	jobs := newFakeJobs()
	r, err := New(context.Background(), Config{Store: dssync.MutexWrap(ds.NewMapDatastore()), Jobs: jobs, Resolver: fakeResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	id, _, _ := r.Start(context.Background(), block)
	jobs.waitSubmitted(t, "a")
	if err := r.Cancel(context.Background(), id.String()); err != nil {
		t.Fatal(err)
	}
	run, _ := r.Get(id.String())
	if run.State != Cancelled {
		t.Fatalf("state %s", run.State)
	}
	for _, s := range run.Steps {
		if s.State != StepCancelled {
			t.Errorf("step %s is %s after cancel", s.Name, s.State)
		}
	}
	if err := r.Cancel(context.Background(), id.String()); err == nil {
		t.Error("second cancel: no error")
	}
}
