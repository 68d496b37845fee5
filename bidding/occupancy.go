package bidding

import (
	"fmt"
	"time"
)

// DefaultRunEstimate is the run time an executor assumes before it has
// measured one (the seed of Occupancy.AvgRun).
const DefaultRunEstimate = time.Second

// Occupancy is an executor's slots and queue: how many accepted runs hold a
// slot, how many wait for one, and the moving average of how long a run
// holds its slot. Its methods are the executor's queueing decisions (is the
// queue full, how long would a job queued now wait) and the bookkeeping of a
// run's way through the queue. It holds no lock and reads no clock: the
// executor keeps one under its own lock and passes measured durations in.
type Occupancy struct {
	// Slots is how many runs may hold a slot at once (> 0).
	Slots int
	// QueueLimit is how many accepted runs may wait for a slot (0: no
	// limit).
	QueueLimit int
	// Running counts the runs holding a slot, Queued those waiting.
	Running, Queued int
	// AvgRun is the moving average of the time a run held its slot (0:
	// none measured yet).
	AvgRun time.Duration
}

// FreeSlots is how many more runs could start now: the slots neither held
// nor promised to a queued run.
func (o Occupancy) FreeSlots() int {
	return max(o.Slots-o.Running-o.Queued, 0)
}

// QueueFull reports whether no run could be accepted now: every slot taken
// and QueueLimit runs waiting.
func (o Occupancy) QueueFull() bool {
	return o.QueueLimit > 0 && o.FreeSlots() == 0 && o.Queued >= o.QueueLimit
}

// EstimatedWait is how long a job accepted now would wait for a slot: 0
// while a slot is free, else the queue ahead of it (itself included) times
// the average run, shared by the slots. Before a run was measured the
// average is DefaultRunEstimate.
func (o Occupancy) EstimatedWait() time.Duration {
	if o.FreeSlots() > 0 {
		return 0
	}
	avg := o.AvgRun
	if avg <= 0 {
		avg = DefaultRunEstimate
	}
	return avg * time.Duration(o.Queued+1) / time.Duration(max(o.Slots, 1))
}

// Enqueue accepts one run into the queue, or refuses it with
// CodeNoCapacity when QueueLimit runs already wait (an award that arrives
// when the node bid earlier but filled up since).
func (o *Occupancy) Enqueue() error {
	if o.QueueLimit > 0 && o.Queued >= o.QueueLimit {
		return refuse(CodeNoCapacity, "queue full (%d jobs waiting)", o.Queued)
	}
	o.Queued++
	return nil
}

// Unqueue takes back a queued run that will not start (its award could not
// be recorded).
func (o *Occupancy) Unqueue() {
	o.Queued = max(o.Queued-1, 0)
}

// Start moves a queued run into a slot.
func (o *Occupancy) Start() {
	o.Queued = max(o.Queued-1, 0)
	o.Running++
}

// Finish frees the slot of a run that held it for d and folds d into
// AvgRun (weight 1/8: a few slow runs move the estimate, one does not).
func (o *Occupancy) Finish(d time.Duration) {
	o.Running = max(o.Running-1, 0)
	if o.AvgRun == 0 {
		o.AvgRun = d
	} else {
		o.AvgRun = (o.AvgRun*7 + d) / 8
	}
}

// String is the occupation for logs.
func (o Occupancy) String() string {
	return fmt.Sprintf("%d/%d slots, %d queued (limit %d), avg run %s", o.Running, o.Slots, o.Queued, o.QueueLimit, o.AvgRun)
}
