package bidding

import "fmt"

// JobState is the state of a job in the requester's job store. See
// docs/protocol.md for the diagram and the events behind each transition.
type JobState string

// Requester job states.
const (
	JobPending   JobState = "pending"   // stored, waiting to (re-)announce
	JobBidding   JobState = "bidding"   // announced, bid window open
	JobAwarded   JobState = "awarded"   // award(s) sent, waiting for Accept
	JobRunning   JobState = "running"   // accepted; status and heartbeats flowing
	JobCompleted JobState = "completed" // every award's receipt succeeded
	JobFailed    JobState = "failed"    // a receipt failed, or queue timeout, or no executor
	JobCancelled JobState = "cancelled" // cancelled by the user
)

// The moves of RequesterMachine, the only writer of a job's state
// (docs/protocol.md §7). -> completed from pending, bidding or awarded: a
// late receipt of a superseded award (the answer to its Cancel) settled
// the job's last slot while it re-announced or offered the newer award.
var jobMoves = map[JobState][]JobState{
	JobPending: {JobBidding, JobCompleted, JobFailed, JobCancelled},
	JobBidding: {JobAwarded, JobPending, JobCompleted, JobFailed, JobCancelled},
	// awarded -> awarded: a decline or an accept timeout leads to the
	// next-best bid; -> pending: no bid left, re-announce.
	JobAwarded: {JobAwarded, JobRunning, JobPending, JobCompleted, JobFailed, JobCancelled},
	// running -> awarded: executor presumed dead or retryable failure,
	// next-best bid; -> pending: re-announce.
	JobRunning: {JobRunning, JobAwarded, JobPending, JobCompleted, JobFailed, JobCancelled},
}

// Terminal reports whether s is final.
func (s JobState) Terminal() bool {
	return s == JobCompleted || s == JobFailed || s == JobCancelled
}

// CanMoveTo reports whether the transition s -> t is allowed.
func (s JobState) CanMoveTo(t JobState) bool {
	for _, x := range jobMoves[s] {
		if x == t {
			return true
		}
	}
	return false
}

// MoveTo returns t if s -> t is allowed, else an error wrapping
// ErrBadTransition.
func (s JobState) MoveTo(t JobState) (JobState, error) {
	if !s.CanMoveTo(t) {
		return s, fmt.Errorf("%w: job %s -> %s", ErrBadTransition, s, t)
	}
	return t, nil
}

// AwardState is the state of an accepted award in the executor's job
// store. Awards that are declined are never stored.
type AwardState string

// Executor award states. The first four match the Status phases.
const (
	AwardAccepted   AwardState = "accepted"
	AwardFetching   AwardState = "fetching"
	AwardRunning    AwardState = "running"
	AwardPublishing AwardState = "publishing"
	AwardCompleted  AwardState = "completed" // receipt stored (whatever the exit code)
	AwardFailed     AwardState = "failed"    // receipt with an error code stored
	AwardCancelled  AwardState = "cancelled" // stopped on Cancel; receipt with code cancelled stored
)

var awardMoves = map[AwardState][]AwardState{
	AwardAccepted:   {AwardFetching, AwardRunning, AwardFailed, AwardCancelled},
	AwardFetching:   {AwardRunning, AwardFailed, AwardCancelled},
	AwardRunning:    {AwardPublishing, AwardFailed, AwardCancelled},
	AwardPublishing: {AwardCompleted, AwardFailed, AwardCancelled},
}

// Terminal reports whether s is final: its receipt is stored.
func (s AwardState) Terminal() bool {
	return s == AwardCompleted || s == AwardFailed || s == AwardCancelled
}

// CanMoveTo reports whether the transition s -> t is allowed.
func (s AwardState) CanMoveTo(t AwardState) bool {
	for _, x := range awardMoves[s] {
		if x == t {
			return true
		}
	}
	return false
}

// MoveTo returns t if s -> t is allowed, else an error wrapping
// ErrBadTransition.
func (s AwardState) MoveTo(t AwardState) (AwardState, error) {
	if !s.CanMoveTo(t) {
		return s, fmt.Errorf("%w: award %s -> %s", ErrBadTransition, s, t)
	}
	return t, nil
}

// Phase returns the Status phase reported in state s ("" for terminal
// states, which end with a Receipt instead).
func (s AwardState) Phase() Phase {
	switch s {
	case AwardAccepted, AwardFetching, AwardRunning, AwardPublishing:
		return Phase(s)
	}
	return ""
}
