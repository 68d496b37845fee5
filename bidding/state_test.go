package bidding

import (
	"errors"
	"testing"
)

func TestJobStateMachine(t *testing.T) {
	happy := []JobState{JobPending, JobBidding, JobAwarded, JobRunning, JobCompleted}
	s := happy[0]
	for _, next := range happy[1:] {
		var err error
		if s, err = s.MoveTo(next); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Terminal() {
		t.Fatal("completed is not terminal")
	}
	allowed := []struct{ from, to JobState }{
		{JobBidding, JobPending}, // window closed empty, re-announce later
		{JobAwarded, JobAwarded}, // declined, next-best award
		{JobRunning, JobAwarded}, // executor dead, next-best
		{JobRunning, JobPending}, // executor dead, no bid left
		{JobPending, JobFailed},  // queue timeout
		{JobRunning, JobCancelled},
		// A late receipt of a superseded award settles the job's last
		// slot while it re-announces (docs/protocol.md §4 Completion).
		{JobPending, JobCompleted}, {JobBidding, JobCompleted},
	}
	for _, tr := range allowed {
		if !tr.from.CanMoveTo(tr.to) {
			t.Errorf("%s -> %s refused", tr.from, tr.to)
		}
	}
	refused := []struct{ from, to JobState }{
		{JobCompleted, JobRunning}, {JobFailed, JobPending}, {JobCancelled, JobBidding},
		{JobPending, JobRunning}, {JobPending, JobAwarded}, {JobBidding, JobRunning},
	}
	for _, tr := range refused {
		if _, err := tr.from.MoveTo(tr.to); !errors.Is(err, ErrBadTransition) {
			t.Errorf("%s -> %s allowed", tr.from, tr.to)
		}
	}
}

func TestAwardStateMachine(t *testing.T) {
	s := AwardAccepted
	for _, next := range []AwardState{AwardFetching, AwardRunning, AwardPublishing, AwardCompleted} {
		if s.Phase() != Phase(s) {
			t.Fatalf("%s has phase %q", s, s.Phase())
		}
		var err error
		if s, err = s.MoveTo(next); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Terminal() || s.Phase() != "" {
		t.Fatal("completed award")
	}
	if !AwardAccepted.CanMoveTo(AwardRunning) || AwardRunning.CanMoveTo(AwardFetching) || AwardCompleted.CanMoveTo(AwardFailed) {
		t.Fatal("award transitions")
	}
	if _, err := AwardCancelled.MoveTo(AwardRunning); !errors.Is(err, ErrBadTransition) {
		t.Fatal("moved out of a terminal state")
	}
}
