package market

import (
	"context"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// WatchAll sees the events of every job, created and updated, with the
// job's state after them; the observer sees each state change once.
func TestWatchAllAndObserve(t *testing.T) {
	ctx := context.Background()
	s, err := OpenJobStore(ctx, dssync.MutexWrap(ds.NewMapDatastore()))
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	s.observe = func(was, now *Job) {
		if was == nil || was.State != now.State {
			changes = append(changes, now.ID+":"+string(now.State))
		}
	}
	ch, stop := s.WatchAll()
	for _, id := range []string{"a", "b"} {
		if err := s.Create(ctx, &Job{ID: id, State: Pending, Created: time.Now(), Events: []Event{{Type: "state", State: Pending, Message: "submitted"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, "b", func(j *Job) error {
		j.State = Completed
		j.log(Event{Type: "state", State: Completed, Message: "done"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "b", func(j *Job) error { j.log(Event{Type: "status", Message: "same state"}); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []JobEvent{
		{Job: "a", State: Pending, Event: Event{Type: "state", State: Pending, Message: "submitted"}},
		{Job: "b", State: Pending, Event: Event{Type: "state", State: Pending, Message: "submitted"}},
		{Job: "b", State: Completed, Event: Event{Type: "state", State: Completed, Message: "done"}},
		{Job: "b", State: Completed, Event: Event{Type: "status", Message: "same state"}},
	}
	for i, w := range want {
		got := <-ch
		if got.Job != w.Job || got.State != w.State || got.Type != w.Type || got.Message != w.Message {
			t.Fatalf("event %d: %+v, want %+v", i, got, w)
		}
	}
	stop()
	stop() // twice is safe
	if _, ok := <-ch; ok {
		t.Fatal("channel open after stop")
	}
	if got := len(changes); got != 3 {
		t.Fatalf("observer saw %v, want a:pending b:pending b:completed", changes)
	}
}
