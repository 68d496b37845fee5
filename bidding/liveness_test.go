package bidding

import (
	"errors"
	"testing"
	"time"
)

func TestLiveness(t *testing.T) {
	exe, other := newIdentity(t, 2), newIdentity(t, 3)
	_, _, job := testSpec(t)
	id := NewAwardID()
	l := NewLiveness(id, exe.id, t0)
	st := func(seq int64, p Phase) *Status {
		return &Status{AwardID: id, JobCID: job, Executor: exe.id, Phase: p, Seq: seq, Time: t0}
	}
	if l.Dead(t0.Add(2999*time.Millisecond)) || !l.Dead(t0.Add(3*time.Second)) {
		t.Fatal("deadline is not 3 missed heartbeats after accept")
	}
	steps := []struct {
		s       *Status
		at      time.Duration
		wantErr error
		phase   Phase
	}{
		{st(1, PhaseFetching), time.Second, nil, PhaseFetching},
		{st(2, PhaseHeartbeat), 2 * time.Second, nil, PhaseFetching},
		{st(3, PhaseRunning), 3 * time.Second, nil, PhaseRunning},
		{st(2, PhaseHeartbeat), 4 * time.Second, nil, PhaseRunning}, // duplicate, ignored
		{st(4, PhaseFetching), 4 * time.Second, ErrStatusOrder, PhaseRunning},
		{&Status{AwardID: id, Executor: other.id, Phase: PhaseHeartbeat, Seq: 9}, 4 * time.Second, ErrInvalid, PhaseRunning},
		{&Status{AwardID: NewAwardID(), Executor: exe.id, Phase: PhaseHeartbeat, Seq: 9}, 4 * time.Second, ErrInvalid, PhaseRunning},
		{st(5, PhasePublishing), 5 * time.Second, nil, PhasePublishing},
	}
	for i, s := range steps {
		err := l.Observe(s.s, t0.Add(s.at))
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("step %d: %v, want %v", i, err, s.wantErr)
		}
		if l.Phase() != s.phase {
			t.Fatalf("step %d: phase %s, want %s", i, l.Phase(), s.phase)
		}
	}
	if l.Seq() != 5 || l.Deadline() != t0.Add(8*time.Second) {
		t.Fatalf("seq %d deadline %s", l.Seq(), l.Deadline())
	}
	l.Touch(t0.Add(6 * time.Second))
	if l.Dead(t0.Add(8 * time.Second)) {
		t.Fatal("Touch did not extend the deadline")
	}
}
