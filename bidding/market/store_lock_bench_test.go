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
			d, err := pebbleds.NewDatastore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			s, err := OpenJobStore(ctx, namespace.Wrap(d, ds.NewKey("/jobs")))
			if err != nil {
				b.Fatal(err)
			}
			const jobs = 64
			for i := range jobs {
				j := &Job{ID: fmt.Sprintf("job%d", i), Type: "batch", Engine: "wasm", Count: 1, State: Running, Created: time.Now()}
				j.log(Event{Type: "state", State: Running, Message: "running"})
				if err := s.create(ctx, j); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			update := func() error {
				id := fmt.Sprintf("job%d", n.Add(1)%jobs)
				return s.Update(ctx, id, func(j *Job) error {
					j.log(Event{Type: "status", Peer: "12D3KooWexecutor", Message: "running"})
					return nil
				})
			}
			start := time.Now()
			if parallel {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := update(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := update(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
		})
	}
}
