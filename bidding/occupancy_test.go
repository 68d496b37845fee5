package bidding

import (
	"errors"
	"testing"
	"time"
)

// TestOccupancyDecisions is the executor's queueing decisions, one row per
// case: free slots, a full queue, the estimated wait, and the refusal of an
// award that finds the queue full.
func TestOccupancyDecisions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Occupancy
		free      int
		full      bool
		wait      time.Duration
		enqueueOK bool
	}{
		{name: "idle", o: Occupancy{Slots: 2, QueueLimit: 4}, free: 2, wait: 0, enqueueOK: true},
		{name: "one slot left", o: Occupancy{Slots: 2, QueueLimit: 4, Running: 1, AvgRun: time.Minute}, free: 1, wait: 0, enqueueOK: true},
		{name: "queued runs take the free slots", o: Occupancy{Slots: 2, QueueLimit: 4, Running: 1, Queued: 1, AvgRun: 4 * time.Second},
			free: 0, wait: 4 * time.Second, enqueueOK: true}, // (1+1) × 4 s / 2 slots
		{name: "busy, nothing measured: the default estimate", o: Occupancy{Slots: 1, QueueLimit: 4, Running: 1},
			free: 0, wait: DefaultRunEstimate, enqueueOK: true},
		{name: "busy with a queue", o: Occupancy{Slots: 2, QueueLimit: 4, Running: 2, Queued: 3, AvgRun: time.Second},
			free: 0, wait: 2 * time.Second, enqueueOK: true}, // (3+1) × 1 s / 2
		{name: "queue full", o: Occupancy{Slots: 2, QueueLimit: 4, Running: 2, Queued: 4, AvgRun: time.Second},
			free: 0, full: true, wait: 2500 * time.Millisecond, enqueueOK: false},
		{name: "queue at its limit while a slot is free is not full, but takes no award",
			o: Occupancy{Slots: 8, QueueLimit: 2, Running: 0, Queued: 2}, free: 6, full: false, wait: 0, enqueueOK: false},
		{name: "no limit", o: Occupancy{Slots: 1, Running: 1, Queued: 1000, AvgRun: time.Millisecond},
			free: 0, wait: 1001 * time.Millisecond, enqueueOK: true},
		{name: "more running than slots (slots lowered): no free slot", o: Occupancy{Slots: 1, QueueLimit: 1, Running: 3},
			free: 0, wait: DefaultRunEstimate, enqueueOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.o.FreeSlots(); got != tc.free {
				t.Errorf("FreeSlots() = %d, want %d", got, tc.free)
			}
			if got := tc.o.QueueFull(); got != tc.full {
				t.Errorf("QueueFull() = %v, want %v", got, tc.full)
			}
			if got := tc.o.EstimatedWait(); got != tc.wait {
				t.Errorf("EstimatedWait() = %s, want %s", got, tc.wait)
			}
			o := tc.o
			err := o.Enqueue()
			if tc.enqueueOK {
				if err != nil || o.Queued != tc.o.Queued+1 {
					t.Errorf("Enqueue() = %v, queued %d; want nil, %d", err, o.Queued, tc.o.Queued+1)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) || r.Code != CodeNoCapacity || o.Queued != tc.o.Queued {
				t.Errorf("Enqueue() = %v, queued %d; want a %s refusal, %d", err, o.Queued, CodeNoCapacity, tc.o.Queued)
			}
		})
	}
}

// TestOccupancyLifecycle follows runs through the queue and a slot, and the
// moving average of their run times.
func TestOccupancyLifecycle(t *testing.T) {
	o := Occupancy{Slots: 1, QueueLimit: 2}
	for i := 0; i < 2; i++ {
		if err := o.Enqueue(); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Enqueue(); err == nil {
		t.Fatal("a third run was queued past QueueLimit 2")
	}
	o.Unqueue() // one award could not be recorded
	if o.Queued != 1 {
		t.Fatalf("queued %d after Unqueue, want 1", o.Queued)
	}
	o.Start()
	if o.Running != 1 || o.Queued != 0 || o.FreeSlots() != 0 {
		t.Fatalf("after Start: %s", o)
	}
	o.Finish(8 * time.Second)
	if o.Running != 0 || o.AvgRun != 8*time.Second {
		t.Fatalf("after the first run: %s, want the average = the run (8s)", o)
	}
	o.Start() // counts stay non-negative whatever the order
	o.Finish(16 * time.Second)
	if o.AvgRun != 9*time.Second { // (7×8 + 16) / 8
		t.Fatalf("average after 8s and 16s = %s, want 9s", o.AvgRun)
	}
	if o.Running != 0 || o.Queued != 0 {
		t.Fatalf("after both runs: %s", o)
	}
}
