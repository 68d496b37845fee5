package market

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// manualClock is a Clock a test moves by hand: its timers fire only when
// Advance passes their time.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c       *manualClock
	at      time.Time
	f       func()
	stopped bool
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// pending counts the timers not fired or stopped.
func (c *manualClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// Advance moves the clock by d and fires, in time order, the timers due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*manualTimer
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		go t.f()
	}
}

// The requester's timers run on Config.Clock: a job that no node can run
// fails at its queue timeout of 10 minutes as soon as the clock is moved
// past it, and not before.
func TestDriverTimersOnInjectedClock(t *testing.T) {
	clock := &manualClock{now: time.Now()}
	noEngine := &testRunner{} // the requester declines its own job
	req := newTestPeer(t, noEngine, func(c *Config) { c.Clock = clock })
	spec := testJobSpec("queued-on-a-manual-clock", func(s *jobspec.Spec) { s.QueueTimeout = 10 * time.Minute })
	id, _, err := req.m.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the loop to set its timers (the queue timeout among them).
	deadline := time.Now().Add(30 * time.Second)
	for clock.pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the job's loop set no timer on the injected clock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Re-announce backoffs come and go; the job waits for its queue
	// timeout whatever the wall clock does.
	clock.Advance(9 * time.Minute)
	j, err := req.m.Jobs().Get(id.String())
	if err != nil {
		t.Fatal(err)
	}
	if j.State.Terminal() {
		t.Fatalf("job %s before its queue timeout: %s", j.State, eventsText(j))
	}
	clock.Advance(time.Minute)
	j = waitJob(t, req.m, id, 30*time.Second)
	if j.State != Failed || j.ErrorCode != bidding.CodeNoExecutor || !strings.Contains(j.Error, "queue timeout (10m0s)") {
		t.Fatalf("job %s %s %q, want failed %s at its queue timeout", j.State, j.ErrorCode, j.Error, bidding.CodeNoExecutor)
	}
	if got := j.Events[len(j.Events)-1].Time; got.Before(clock.Now()) {
		t.Fatalf("the last event is stamped %s, before the clock's %s", got, clock.Now())
	}
}
