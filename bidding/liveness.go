package bidding

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Liveness is the requester's watch over one accepted award: it checks the
// executor's Status messages (right award, right executor, increasing Seq,
// phases never going back) and says when the executor is presumed dead:
// MissedHeartbeats intervals of HeartbeatInterval without any Status.
type Liveness struct {
	award    AwardID
	executor peer.ID
	lastSeq  int64
	lastSeen time.Time
	phase    Phase
}

// NewLiveness starts watching an award accepted at now.
func NewLiveness(award AwardID, executor peer.ID, now time.Time) *Liveness {
	return &Liveness{award: award, executor: executor, lastSeen: now, phase: PhaseAccepted}
}

var phaseOrder = map[Phase]int{PhaseAccepted: 0, PhaseFetching: 1, PhaseRunning: 2, PhasePublishing: 3}

// Observe records a verified Status received at now. A Status for another
// award or from another executor is an error; a Seq already seen is
// ignored (returns nil, a duplicate after re-attaching); a phase going back
// is ErrStatusOrder.
func (l *Liveness) Observe(s *Status, now time.Time) error {
	if s.AwardID != l.award || s.Executor != l.executor {
		return fmt.Errorf("%w: status for award %s from %s, watching %s from %s", ErrInvalid, s.AwardID, s.Executor, l.award, l.executor)
	}
	if s.Seq <= l.lastSeq {
		return nil
	}
	if s.Phase != PhaseHeartbeat {
		if phaseOrder[s.Phase] < phaseOrder[l.phase] {
			return fmt.Errorf("%w: phase %s after %s", ErrStatusOrder, s.Phase, l.phase)
		}
		l.phase = s.Phase
	}
	l.lastSeq = s.Seq
	l.lastSeen = now
	return nil
}

// Touch records that the executor was heard from at now by other means
// (an Accept, a Query answer).
func (l *Liveness) Touch(now time.Time) {
	if now.After(l.lastSeen) {
		l.lastSeen = now
	}
}

// Phase is the last phase reported.
func (l *Liveness) Phase() Phase { return l.phase }

// Seq is the last sequence number seen.
func (l *Liveness) Seq() int64 { return l.lastSeq }

// Deadline is when the executor is presumed dead if nothing more arrives.
func (l *Liveness) Deadline() time.Time {
	return l.lastSeen.Add(MissedHeartbeats * HeartbeatInterval)
}

// Dead reports whether the executor is presumed dead at now.
func (l *Liveness) Dead(now time.Time) bool { return !now.Before(l.Deadline()) }
