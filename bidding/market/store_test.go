package market

import (
	"context"
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
