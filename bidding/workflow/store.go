package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// State of a workflow run.
type State string

// Run states.
const (
	Running   State = "running"
	Completed State = "completed"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Terminal reports whether the state is final.
func (s State) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// ErrNotFound is returned for an unknown workflow ID.
var ErrNotFound = errors.New("workflow not found")

// Run is the requester's record of a workflow run: the source of truth
// for its state, kept in the datastore under /<workflow ID>.
type Run struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	State    State     `json:"state"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
	Steps    []StepRun `json:"steps"`
	// Version counts the record's updates (watchers wait for a newer one).
	Version int64 `json:"version"`
}

// StepRun is one step of a run.
type StepRun struct {
	Name  string    `json:"name"`
	State StepState `json:"state"`
	// Needs are the steps it takes inputs from.
	Needs []string `json:"needs,omitempty"`
	// Job is the step's job ID once submitted.
	Job      string `json:"job,omitempty"`
	Executor string `json:"executor,omitempty"`
	// Outputs is the root CID of the step's outputs once completed.
	Outputs   string    `json:"outputs,omitempty"`
	Error     string    `json:"error,omitempty"`
	Submitted time.Time `json:"submitted,omitzero"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	// InputBytes is the size of the step's inputs; FetchedBytes how many
	// of them its executor did not hold (they crossed the network).
	InputBytes   int64 `json:"input_bytes,omitempty"`
	FetchedBytes int64 `json:"fetched_bytes,omitempty"`
	// FromBytes is the size of its inputs that are other steps' outputs,
	// as the requester resolved them (0: unknown).
	FromBytes int64 `json:"from_bytes,omitempty"`
	// Reused: the job's result was an earlier run's receipt.
	Reused bool `json:"reused,omitempty"`
}

func (r *Run) clone() *Run {
	c := *r
	c.Steps = append([]StepRun(nil), r.Steps...)
	return &c
}

func (r *Run) states() []StepState {
	out := make([]StepState, len(r.Steps))
	for i, s := range r.Steps {
		out[i] = s.State
	}
	return out
}

// store persists runs as JSON records.
type store struct{ d ds.Datastore }

func (s store) put(ctx context.Context, r *Run) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.d.Put(ctx, ds.NewKey("/"+r.ID), b); err != nil {
		return fmt.Errorf("store workflow %s: %w", r.ID, err)
	}
	return s.d.Sync(ctx, ds.NewKey("/"+r.ID))
}

func (s store) putBlock(ctx context.Context, id string, block []byte) error {
	return s.d.Put(ctx, ds.NewKey("/b/"+id), block)
}

func (s store) block(ctx context.Context, id string) ([]byte, error) {
	b, err := s.d.Get(ctx, ds.NewKey("/b/"+id))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return b, err
}

func (s store) all(ctx context.Context) ([]*Run, error) {
	res, err := s.d.Query(ctx, query.Query{})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []*Run
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		k := ds.NewKey(e.Key)
		if len(k.Namespaces()) != 1 {
			continue // a block under /b/
		}
		var r Run
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("workflow record %s: %w", e.Key, err)
		}
		out = append(out, &r)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Created.After(out[k].Created) })
	return out, nil
}
