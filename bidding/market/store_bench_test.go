package market

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// benchStore opens a job store on a fresh pebble datastore.
func benchStore(b *testing.B) *JobStore {
	d, err := pebbleds.NewDatastore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	s, err := OpenJobStore(context.Background(), namespace.Wrap(d, ds.NewKey("/jobs")))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchLoop runs op b.N times, serially or from 8 goroutines per core, and
// reports the rate as unit.
func benchLoop(b *testing.B, parallel bool, unit string, op func() error) {
	start := time.Now()
	if parallel {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit)
}

// BenchmarkJobStoreCreate measures what the sync of an acknowledged job
// costs: Create (durable) against create (unsynced), one submitter and
// many at once (pebble groups concurrent WAL syncs).
func BenchmarkJobStoreCreate(b *testing.B) {
	ctx := context.Background()
	var n atomic.Int64
	job := func() *Job {
		now := time.Now()
		j := &Job{ID: fmt.Sprintf("job%d", n.Add(1)), Type: "batch", Engine: "wasm", Count: 1, State: Pending, Created: now}
		j.log(Event{Time: now, Type: "state", State: Pending, Message: "submitted"})
		return j
	}
	for _, c := range []struct {
		name     string
		parallel bool
		create   func(s *JobStore, j *Job) error
	}{
		{"unsynced", false, func(s *JobStore, j *Job) error { return s.create(ctx, j) }},
		{"synced", false, func(s *JobStore, j *Job) error { return s.Create(ctx, j) }},
		{"unsynced-parallel", true, func(s *JobStore, j *Job) error { return s.create(ctx, j) }},
		{"synced-parallel", true, func(s *JobStore, j *Job) error { return s.Create(ctx, j) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b)
			benchLoop(b, c.parallel, "jobs/s", func() error { return c.create(s, job()) })
		})
	}
}

// BenchmarkJobStoreUpdate measures updates of jobs in flight (a bid or a
// status logged, the record rewritten): one job at a time, and many jobs
// updated at once, which a store-wide lock held across the datastore
// write serialises.
func BenchmarkJobStoreUpdate(b *testing.B) {
	ctx := context.Background()
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			s := benchStore(b)
			const jobs = 64
			for i := range jobs {
				j := &Job{ID: fmt.Sprintf("job%d", i), Type: "batch", Engine: "wasm", Count: 1, State: Running, Created: time.Now()}
				j.log(Event{Type: "state", State: Running, Message: "running"})
				if err := s.create(ctx, j); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			benchLoop(b, parallel, "updates/s", func() error {
				id := fmt.Sprintf("job%d", n.Add(1)%jobs)
				return s.Update(ctx, id, func(j *Job) error {
					j.log(Event{Type: "status", Peer: "12D3KooWexecutor", Message: "running"})
					return nil
				})
			})
		})
	}
}
