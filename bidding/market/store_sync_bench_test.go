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

// BenchmarkJobStoreCreate measures what the sync of an acknowledged job
// costs: Create (durable) against create (unsynced), one submitter and
// many at once (pebble groups concurrent WAL syncs).
func BenchmarkJobStoreCreate(b *testing.B) {
	ctx := context.Background()
	var n atomic.Int64
	open := func(b *testing.B) *JobStore {
		d, err := pebbleds.NewDatastore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		s, err := OpenJobStore(ctx, namespace.Wrap(d, ds.NewKey("/jobs")))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
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
			s := open(b)
			start := time.Now()
			if c.parallel {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := c.create(s, job()); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := c.create(s, job()); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
		})
	}
}
