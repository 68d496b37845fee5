package market

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// countingStore records the keys written and deleted, through batches
// too (batching: its Batch commits through Put and Delete), and fails the
// Put of failKey once armed.
type countingStore struct {
	ds.Datastore
	batching bool

	mu      sync.Mutex
	puts    []string
	deletes []string
	failKey ds.Key
}

var errDisk = errors.New("disk failed")

func (d *countingStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	d.mu.Lock()
	fail := k == d.failKey
	if !fail {
		d.puts = append(d.puts, k.String())
	}
	d.mu.Unlock()
	if fail {
		return errDisk
	}
	return d.Datastore.Put(ctx, k, v)
}

func (d *countingStore) Delete(ctx context.Context, k ds.Key) error {
	d.mu.Lock()
	d.deletes = append(d.deletes, k.String())
	d.mu.Unlock()
	return d.Datastore.Delete(ctx, k)
}

// reset returns the keys written and deleted since the last reset. The
// writes of a batch are atomic, their order is not kept: batching stores
// return them sorted.
func (d *countingStore) reset() (puts, deletes []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	puts, deletes = d.puts, d.deletes
	d.puts, d.deletes = nil, nil
	if d.batching {
		slices.Sort(puts)
		slices.Sort(deletes)
	}
	return puts, deletes
}

// order sorts keys as reset returns them.
func (d *countingStore) order(keys ...string) []string {
	if d.batching {
		slices.Sort(keys)
	}
	return keys
}

// batchingStore is a countingStore that batches.
type batchingStore struct{ *countingStore }

func (d batchingStore) Batch(ctx context.Context) (ds.Batch, error) {
	return ds.NewBasicBatch(d.countingStore), nil
}

func newCountingStore(batching bool) (*countingStore, ds.Datastore) {
	c := &countingStore{Datastore: dssync.MutexWrap(ds.NewMapDatastore()), batching: batching}
	if batching {
		return c, batchingStore{c}
	}
	return c, c
}

func logStatus(ctx context.Context, s *JobStore, id, msg string) error {
	return s.Update(ctx, id, func(j *Job) error {
		j.log(Event{Type: "status", Peer: "12D3KooWexec", Message: msg})
		return nil
	})
}

// An update writes only the events it logged, each under its own key, and
// the record without events; no earlier event is written again. With a
// batching datastore and without.
func TestJobStoreUpdateWritesOnlyNewEvents(t *testing.T) {
	for _, batching := range []bool{true, false} {
		t.Run(fmt.Sprintf("batching=%v", batching), func(t *testing.T) {
			ctx := context.Background()
			c, d := newCountingStore(batching)
			s, err := OpenJobStore(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			j := &Job{ID: "job1", State: Pending, Created: time.Now()}
			j.log(Event{Type: "state", State: Pending, Message: "submitted"})
			if err := s.Create(ctx, j); err != nil {
				t.Fatal(err)
			}
			puts, _ := c.reset()
			want := c.order("/s/job1", eventKey("job1", 0).String(), "/job1")
			if !slices.Equal(puts, want) {
				t.Fatalf("Create wrote %v, want %v", puts, want)
			}
			for i := 1; i <= 3; i++ {
				if err := logStatus(ctx, s, "job1", fmt.Sprintf("status %d", i)); err != nil {
					t.Fatal(err)
				}
				puts, dels := c.reset()
				want := c.order(eventKey("job1", int64(i)).String(), "/job1")
				if !slices.Equal(puts, want) || len(dels) != 0 {
					t.Fatalf("update %d wrote %v, deleted %v; want %v only", i, puts, dels, want)
				}
			}
			// Two events in one update: two keys, in order; a state
			// change rewrites the summary after the record.
			err = s.Update(ctx, "job1", func(j *Job) error {
				j.State = Running
				j.log(Event{Type: "state", State: Running, Message: "running"})
				j.log(Event{Type: "status", Message: "started"})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			puts, _ = c.reset()
			want = c.order(eventKey("job1", 4).String(), eventKey("job1", 5).String(), "/job1", "/s/job1")
			if !slices.Equal(puts, want) {
				t.Fatalf("two-event update wrote %v, want %v", puts, want)
			}
			// An update that logs nothing writes the record alone.
			if err := s.Update(ctx, "job1", func(j *Job) error { j.Attempts = 0; return nil }); err != nil {
				t.Fatal(err)
			}
			if puts, _ := c.reset(); !slices.Equal(puts, []string{"/job1"}) {
				t.Fatalf("update without events wrote %v", puts)
			}
			// The record holds no events, only their count.
			b, err := d.Get(ctx, jobKey("job1"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "submitted") || !strings.Contains(string(b), `"event_seq":6`) {
				t.Fatalf("record %s: want no events, event_seq 6", b)
			}
			got, err := s.Get("job1")
			if err != nil || len(got.Events) != 6 || got.Events[5].Message != "started" {
				t.Fatalf("Get: %+v %v", got, err)
			}
		})
	}
}

// After a restart a job's events are read back from their keys in the
// order they were logged, for a job in flight and for a finished one.
func TestJobStoreRestartKeepsEventOrder(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*pebbleds.Datastore, *JobStore) {
		d, err := pebbleds.NewDatastore(dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := OpenJobStore(ctx, namespace.Wrap(d, ds.NewKey("/jobs")))
		if err != nil {
			t.Fatal(err)
		}
		return d, s
	}
	d, s := open()
	for _, id := range []string{"live", "done"} {
		j := &Job{ID: id, State: Pending, Created: time.Now()}
		j.log(Event{Type: "state", State: Pending, Message: "m0"})
		if err := s.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		// More than 10 events: zero-padded keys sort by number.
		for i := 1; i < 25; i++ {
			if err := logStatus(ctx, s, id, fmt.Sprintf("m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	err := s.Update(ctx, "done", func(j *Job) error {
		j.State = Completed
		j.log(Event{Type: "state", State: Completed, Message: "m25"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, s = open()
	defer d.Close()
	check := func(id string, n int) {
		t.Helper()
		j, err := s.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(j.Events) != n || j.EventSeq != int64(n) {
			t.Fatalf("%s: %d events, seq %d, want %d", id, len(j.Events), j.EventSeq, n)
		}
		for i, e := range j.Events {
			if e.Message != fmt.Sprintf("m%d", i) {
				t.Fatalf("%s: event %d is %q", id, i, e.Message)
			}
		}
	}
	check("live", 25)
	check("done", 26)
	if s.live["live"] == nil || s.live["done"] != nil {
		t.Fatalf("in memory after reopen: %v", s.live)
	}
	// The job in flight goes on logging after the restart.
	if err := logStatus(ctx, s, "live", "m25"); err != nil {
		t.Fatal(err)
	}
	check("live", 26)
}

// A job's log keeps the first event and the latest maxEvents-1; the keys
// of the dropped ones are deleted, so the datastore holds maxEvents.
func TestJobStoreEventBound(t *testing.T) {
	ctx := context.Background()
	c, d := newCountingStore(true)
	s, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	j := &Job{ID: "job1", State: Pending, Created: time.Now()}
	j.log(Event{Type: "state", Message: "e0"})
	if err := s.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	const total = maxEvents + 40
	for i := 1; i < total; i++ {
		if err := logStatus(ctx, s, "job1", fmt.Sprintf("e%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, dels := c.reset()
	if len(dels) != total-maxEvents || dels[0] != eventKey("job1", 1).String() {
		t.Fatalf("deleted %d keys (%v...), want %d from seq 1", len(dels), dels[:min(3, len(dels))], total-maxEvents)
	}
	checkLog := func(s *JobStore) {
		t.Helper()
		j, err := s.Get("job1")
		if err != nil {
			t.Fatal(err)
		}
		if len(j.Events) != maxEvents || j.Events[0].Message != "e0" ||
			j.Events[1].Message != fmt.Sprintf("e%d", total-maxEvents+1) || j.Events[maxEvents-1].Message != fmt.Sprintf("e%d", total-1) {
			t.Fatalf("log: %d events, %q %q ... %q", len(j.Events), j.Events[0].Message, j.Events[1].Message, j.Events[len(j.Events)-1].Message)
		}
	}
	checkLog(s)
	s2, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	checkLog(s2)
	keys, err := d.Query(ctx, queryAll())
	if err != nil {
		t.Fatal(err)
	}
	all, _ := keys.Rest()
	events := 0
	for _, r := range all {
		if strings.HasPrefix(r.Key, "/e/") {
			events++
		}
	}
	if events != maxEvents {
		t.Fatalf("%d event keys stored, want %d", events, maxEvents)
	}
}

// A record written before events had keys of their own (events inside
// it) still loads, in flight and finished; the first update of the job in
// flight moves its events to keys and the record no longer carries them.
func TestJobStoreOldFormatRecordLoads(t *testing.T) {
	ctx := context.Background()
	c, d := newCountingStore(true)
	old := func(id string, st State, n int) {
		j := &Job{ID: id, State: st, Created: time.Now()}
		for i := range n {
			j.Events = append(j.Events, Event{Type: "status", Message: fmt.Sprintf("old%d", i)})
		}
		b, _ := json.Marshal(j)
		if !strings.Contains(string(b), `"events":[`) || strings.Contains(string(b), "event_seq") {
			t.Fatalf("not the old format: %s", b)
		}
		if err := d.Put(ctx, jobKey(id), b); err != nil {
			t.Fatal(err)
		}
		if err := d.Put(ctx, summaryKey(id), b); err != nil {
			t.Fatal(err)
		}
	}
	old("running", Running, 3)
	old("done", Completed, 2)
	s, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := s.Get("done"); err != nil || len(j.Events) != 2 || j.Events[1].Message != "old1" {
		t.Fatalf("finished old job: %+v %v", j, err)
	}
	if j, err := s.Get("running"); err != nil || len(j.Events) != 3 || j.EventSeq != 3 {
		t.Fatalf("old job in flight: %+v %v", j, err)
	}
	c.reset()
	if err := logStatus(ctx, s, "running", "new3"); err != nil {
		t.Fatal(err)
	}
	puts, _ := c.reset()
	want := c.order(eventKey("running", 0).String(), eventKey("running", 1).String(), eventKey("running", 2).String(),
		eventKey("running", 3).String(), "/running")
	if !slices.Equal(puts, want) {
		t.Fatalf("first update of an old record wrote %v, want %v", puts, want)
	}
	b, _ := d.Get(ctx, jobKey("running"))
	if strings.Contains(string(b), "old0") {
		t.Fatalf("migrated record still carries its events: %s", b)
	}
	s2, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	j, err := s2.Get("running")
	if err != nil || len(j.Events) != 4 || j.Events[0].Message != "old0" || j.Events[3].Message != "new3" {
		t.Fatalf("migrated job reopened: %+v %v", j, err)
	}
}

// A write that fails (on a datastore without batches: the event is
// written, the record is not) leaves the job as it was: the update fails,
// the store still shows the job before it, a reopened store reads the
// record's events only, and the next update writes its event over the
// orphan.
func TestJobStoreFailedWriteKeepsLog(t *testing.T) {
	ctx := context.Background()
	c, d := newCountingStore(false)
	s, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	j := &Job{ID: "job1", State: Pending, Created: time.Now()}
	j.log(Event{Type: "state", Message: "e0"})
	if err := s.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.failKey = jobKey("job1")
	c.mu.Unlock()
	if err := logStatus(ctx, s, "job1", "lost"); !errors.Is(err, errDisk) {
		t.Fatalf("update on a failing disk: %v", err)
	}
	if got, _ := d.Get(ctx, eventKey("job1", 1)); !strings.Contains(string(got), "lost") {
		t.Fatalf("the orphan event was not written first: %q", got)
	}
	if j, err := s.Get("job1"); err != nil || len(j.Events) != 1 {
		t.Fatalf("after the failed update: %+v %v", j, err)
	}
	s2, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := s2.Get("job1"); err != nil || len(j.Events) != 1 || j.Events[0].Message != "e0" {
		t.Fatalf("reopened after the failed update: %+v %v", j, err)
	}
	c.mu.Lock()
	c.failKey = ds.Key{}
	c.mu.Unlock()
	if err := logStatus(ctx, s2, "job1", "e1"); err != nil {
		t.Fatal(err)
	}
	s3, err := OpenJobStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := s3.Get("job1"); err != nil || len(j.Events) != 2 || j.Events[1].Message != "e1" {
		t.Fatalf("after the next update: %+v %v", j, err)
	}
}

func queryAll() query.Query { return query.Query{KeysOnly: true} }
