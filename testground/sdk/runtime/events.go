package runtime

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// EventLine is one line of run.out, as Testground's SDK writes it: a
// timestamp, an empty message, the group and run IDs, and the event.
type EventLine struct {
	TS      time.Time `json:"ts"`
	Msg     string    `json:"msg"`
	GroupID string    `json:"group_id"`
	RunID   string    `json:"run_id"`
	Event   *Event    `json:"event"`
}

// Event holds exactly one of its fields, named as in Testground.
type Event struct {
	StartEvent   *StartEvent   `json:"start_event,omitempty"`
	MessageEvent *MessageEvent `json:"message_event,omitempty"`
	SuccessEvent *SuccessEvent `json:"success_event,omitempty"`
	FailureEvent *FailureEvent `json:"failure_event,omitempty"`
	CrashEvent   *CrashEvent   `json:"crash_event,omitempty"`
}

// Event types, as returned by Event.Type.
const (
	TypeStart   = "start_event"
	TypeMessage = "message_event"
	TypeSuccess = "success_event"
	TypeFailure = "failure_event"
	TypeCrash   = "crash_event"
)

// Type names the event's kind ("" for an empty event).
func (e *Event) Type() string {
	switch {
	case e == nil:
		return ""
	case e.StartEvent != nil:
		return TypeStart
	case e.MessageEvent != nil:
		return TypeMessage
	case e.SuccessEvent != nil:
		return TypeSuccess
	case e.FailureEvent != nil:
		return TypeFailure
	case e.CrashEvent != nil:
		return TypeCrash
	}
	return ""
}

// StartEvent carries the run parameters the instance started with.
type StartEvent struct {
	Runenv *RunParams `json:"runenv"`
}

// MessageEvent is a free-form message.
type MessageEvent struct {
	Message string `json:"message"`
}

// SuccessEvent: the instance succeeded.
type SuccessEvent struct {
	TestGroupID string `json:"group"`
}

// FailureEvent: the instance failed.
type FailureEvent struct {
	TestGroupID string `json:"group"`
	Error       string `json:"error"`
}

// CrashEvent: the instance panicked.
type CrashEvent struct {
	TestGroupID string `json:"group"`
	Error       string `json:"error"`
	Stacktrace  string `json:"stacktrace"`
}

// ReadEvents parses run.out content. Lines that are not events (a plan may
// print to stdout when the runner captures it into run.out) are skipped;
// a line longer than 4 MiB is an error.
func ReadEvents(r io.Reader) ([]EventLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var out []EventLine
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if len(b) == 0 || b[0] != '{' {
			continue
		}
		var l EventLine
		if err := json.Unmarshal(b, &l); err != nil || l.Event.Type() == "" {
			continue
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("runtime: reading events: %w", err)
	}
	return out, nil
}

// ReadMetrics parses results.out content, skipping malformed lines.
func ReadMetrics(r io.Reader) ([]Metric, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Metric
	for sc.Scan() {
		var m Metric
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.Name == "" {
			continue
		}
		out = append(out, m)
	}
	return out, sc.Err()
}
