package market

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

func TestJobStorePersistsAndWatches(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*pebbleds.Datastore, *JobStore) {
		d, err := pebbleds.NewDatastore(dir)
		if err != nil {
			t.Fatal(err)
		}
		// Other namespaces share the store, as in a node.
		_ = d.Put(ctx, ds.NewKey("/blocks/xyz"), []byte("not a job"))
		s, err := OpenJobStore(ctx, namespace.Wrap(d, ds.NewKey("/jobs")))
		if err != nil {
			t.Fatal(err)
		}
		return d, s
	}
	d, s := open()
	j := &Job{ID: "job1", State: Pending, Created: time.Now()}
	if err := s.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, &Job{ID: "job1"}); !errors.Is(err, ErrJobExists) {
		t.Fatalf("second create: %v", err)
	}
	ch, _, cancel, err := s.Watch("job1")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	err = s.Update(ctx, "job1", func(j *Job) error {
		j.State = Completed
		j.log(Event{Type: "state", State: Completed, Message: "done"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := <-ch
	if !ok || e.Message != "done" {
		t.Fatalf("watch got %+v %v", e, ok)
	}
	if _, ok := <-ch; ok {
		t.Fatal("watch channel not closed at a terminal state")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, s = open()
	defer d.Close()
	got, err := s.Get("job1")
	if err != nil || got.State != Completed || len(got.Events) != 1 {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	if _, err := s.Get("nope"); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
}

// Finished jobs live in the datastore only; List reads their summaries.
// A store written before summaries existed gets them when it opens, and a
// summary whose record was never written (a crash inside Create) is
// dropped.
func TestJobStoreSummaries(t *testing.T) {
	ctx := context.Background()
	d, err := pebbleds.NewDatastore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	jobs := namespace.Wrap(d, ds.NewKey("/jobs"))
	// Two records as an older version wrote them, no summaries.
	for _, j := range []*Job{
		{ID: "old-done", State: Completed, Created: time.Unix(100, 0), Events: []Event{{Message: "x"}}},
		{ID: "old-running", State: Running, Created: time.Unix(200, 0)},
	} {
		b, _ := json.Marshal(j)
		if err := jobs.Put(ctx, jobKey(j.ID), b); err != nil {
			t.Fatal(err)
		}
	}
	s, err := OpenJobStore(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	list := s.List()
	if len(list) != 2 || list[0].ID != "old-running" || list[1].ID != "old-done" || len(list[1].Events) != 0 {
		t.Fatalf("List after migration: %+v", list)
	}
	if len(s.live) != 1 || s.live["old-running"] == nil {
		t.Fatalf("in memory: %v, want the running job only", s.live)
	}
	// A summary without its record, as a crash inside Create leaves it.
	if err := s.putSummary(ctx, &Job{ID: "half", State: Pending}); err != nil {
		t.Fatal(err)
	}
	s, err = OpenJobStore(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	if list := s.List(); len(list) != 2 {
		t.Fatalf("List kept a job without a record: %+v", list)
	}
	if got, err := s.Get("old-done"); err != nil || len(got.Events) != 1 {
		t.Fatalf("Get of a finished job: %+v %v", got, err)
	}
}
