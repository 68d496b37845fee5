package market

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/bidding"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// stallingStore is an in-memory datastore whose Put of one key waits
// until released: a slow disk under one job's write, a fault a test cannot
// cause otherwise.
type stallingStore struct {
	ds.Datastore
	key     ds.Key
	entered chan struct{} // closed when the Put of key is waiting
	release chan struct{} // closed to let it go
	once    sync.Once
}

func (d *stallingStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	if k == d.key {
		d.once.Do(func() {
			close(d.entered)
			<-d.release
		})
	}
	return d.Datastore.Put(ctx, k, v)
}

// A write of one job that does not return holds up that job only: the
// other jobs are updated, read, listed and watched meanwhile, and the
// stalled job's next update waits for its first and is written after it.
func TestJobStoreWriteHoldsUpOneJob(t *testing.T) {
	ctx := context.Background()
	d := &stallingStore{Datastore: dssync.MutexWrap(ds.NewMapDatastore()),
		entered: make(chan struct{}), release: make(chan struct{})}
	s, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"jobA", "jobB"} {
		if err := s.Create(ctx, &Job{ID: id, State: Pending, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	d.key = jobKey("jobA") // armed once no Put runs: the next write of jobA's record stalls
	setState := func(id string, st State, msg string) error {
		return s.Update(ctx, id, func(j *Job) error {
			j.State = st
			j.log(Event{Type: "state", State: st, Message: msg})
			return nil
		})
	}
	firstA := make(chan error, 1)
	go func() { firstA <- setState("jobA", Bidding, "a1") }()
	<-d.entered // jobA's record write is stalled now

	others := make(chan error, 1)
	go func() {
		ch, _, cancel, err := s.Watch("jobB")
		if err != nil {
			others <- err
			return
		}
		defer cancel()
		if err := setState("jobB", Running, "b1"); err != nil {
			others <- err
			return
		}
		if j, err := s.Get("jobB"); err != nil || j.State != Running {
			others <- err
			return
		}
		if j, err := s.Get("jobA"); err != nil || j.State != Pending {
			t.Errorf("Get of the stalled job: %+v %v, want it as before its update", j, err)
		}
		if l := s.List(); len(l) != 2 {
			t.Errorf("List: %d jobs, want 2", len(l))
		}
		if e := <-ch; e.Message != "b1" {
			t.Errorf("watcher of jobB got %+v", e)
		}
		others <- nil
	}()
	select {
	case err := <-others:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an update of jobB waited for the stalled write of jobA")
	}

	// jobA's second update queues behind its first.
	secondA := make(chan error, 1)
	go func() { secondA <- setState("jobA", Awarded, "a2") }()
	close(d.release)
	if err := <-firstA; err != nil {
		t.Fatal(err)
	}
	if err := <-secondA; err != nil {
		t.Fatal(err)
	}
	j, err := s.Get("jobA")
	if err != nil || j.State != Awarded || len(j.Events) != 2 || j.Events[0].Message != "a1" || j.Events[1].Message != "a2" {
		t.Fatalf("jobA after both updates: %+v %v", j, err)
	}
	// Reopened from the datastore alone, the record is the last update.
	s2, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := s2.Get("jobA"); err != nil || j.State != Awarded || len(j.Events) != 2 {
		t.Fatalf("jobA reopened: %+v %v", j, err)
	}
	if l := s2.List(); len(l) != 2 || l[0].State == "" {
		t.Fatalf("List reopened: %+v", l)
	}
}

// The executor's award store likewise: a stalled write of one award does
// not hold up another award's write and sync.
func TestAwardStoreWriteHoldsUpOneAward(t *testing.T) {
	ctx := context.Background()
	d := &stallingStore{Datastore: dssync.MutexWrap(ds.NewMapDatastore()), key: ds.NewKey("awardA"),
		entered: make(chan struct{}), release: make(chan struct{})}
	s, err := openAwardStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- s.put(ctx, &awardRecord{ID: "awardA", State: bidding.AwardAccepted}) }()
	<-d.entered
	other := make(chan error, 1)
	go func() { other <- s.put(ctx, &awardRecord{ID: "awardB", State: bidding.AwardAccepted}) }()
	select {
	case err := <-other:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a write of awardB waited for the stalled write of awardA")
	}
	if _, ok := s.get("awardB"); !ok {
		t.Fatal("awardB not found after its write")
	}
	close(d.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if a, ok := s.get("awardA"); !ok || a.State != bidding.AwardAccepted {
		t.Fatalf("awardA after its write: %+v %v", a, ok)
	}
}
