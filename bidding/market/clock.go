package market

import "time"

// Clock is the time of the requester's job loops (driver.go): what their
// events are stamped with, when the machine's timers fire (bid windows
// aside: the announce's wait is I/O), and the job records' creation time.
// A test drives it by hand to check the machine's timing without waiting
// for wall time; the daemon uses the wall clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc; Stop reports whether it stopped it
// before it fired.
type Timer interface {
	Stop() bool
}

// wallClock is the Clock of time.Now and time.AfterFunc.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
