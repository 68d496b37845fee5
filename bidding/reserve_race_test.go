package bidding

import (
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// Concurrent admissions never hand out more free slots than the node has.
func TestReservationsConcurrent(t *testing.T) {
	r := NewReservations(0, func() time.Time { return t0 })
	view := idleNode(t)
	spec, _, _ := testSpec(t)
	jobs := make([]cid.Cid, 32)
	for i := range jobs {
		jobs[i] = jobN(t, i)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		idle int
	)
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := r.Admit(j, spec, view)
			if err != nil {
				t.Error(err)
				return
			}
			if o.FreeSlots > 0 {
				mu.Lock()
				idle++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if idle != view.Slots {
		t.Fatalf("%d idle offers for %d slots", idle, view.Slots)
	}
}
