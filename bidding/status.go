package bidding

import (
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Phase is where an accepted award stands, as reported by Status.
type Phase string

// Phases, in order. Heartbeat repeats the current phase's liveness without
// changing it.
const (
	PhaseAccepted   Phase = "accepted"
	PhaseFetching   Phase = "fetching"
	PhaseRunning    Phase = "running"
	PhasePublishing Phase = "publishing"
	PhaseHeartbeat  Phase = "heartbeat"
)

// Valid reports whether p is one of the phases.
func (p Phase) Valid() bool {
	switch p {
	case PhaseAccepted, PhaseFetching, PhaseRunning, PhasePublishing, PhaseHeartbeat:
		return true
	}
	return false
}

// Status reports progress of an accepted award: a phase change, or a
// heartbeat at least every HeartbeatInterval. Written by the executor on
// ProtocolAward (or ProtocolReceipt after a Query). Signed by Executor. At
// most MaxMessageSize bytes.
type Status struct {
	Version  int
	AwardID  AwardID
	JobCID   cid.Cid
	Executor peer.ID
	Phase    Phase
	// Seq starts at 1 and strictly increases with every Status of the award,
	// across streams; a requester ignores a Seq it has already seen.
	Seq int64
	// Done and Total report a phase's progress, omitted when zero: for
	// fetching, the bytes of the job's content made local so far and the
	// bytes it has in all (as far as the executor knows yet).
	Done, Total int64
	Time        time.Time
	Sig         []byte
}

// Kind implements Message.
func (s *Status) Kind() Kind { return KindStatus }

// Signer implements Message: the executor.
func (s *Status) Signer() peer.ID { return s.Executor }

func (s *Status) fields() (*int, *[]byte) { return &s.Version, &s.Sig }
func (s *Status) role() string            { return "executor" }
func (s *Status) limit() int              { return MaxMessageSize }

func (s *Status) encode(m *dag.Map) {
	putAwardID(m, "award", s.AwardID)
	m.Link("job", s.JobCID)
	putPeer(m, "executor", s.Executor)
	m.Str("phase", string(s.Phase))
	m.Int("seq", s.Seq)
	m.Int("done", s.Done)
	m.Int("total", s.Total)
	putTime(m, "time", s.Time)
}

func (s *Status) decode(r *dag.Reader) {
	s.AwardID = getAwardID(r, "award")
	s.JobCID = r.Link("job")
	s.Executor = getPeer(r, "executor")
	s.Phase = Phase(r.Str("phase"))
	s.Seq = r.Int("seq")
	s.Done = r.Int("done")
	s.Total = r.Int("total")
	s.Time = getTime(r, "time")
}

func (s *Status) check(c *checker) {
	c.awardID("award", s.AwardID)
	c.jobCID("job", s.JobCID)
	c.peer("executor", s.Executor)
	if !s.Phase.Valid() {
		c.failf("phase", "%q: one of accepted, fetching, running, publishing, heartbeat", s.Phase)
	}
	if s.Seq < 1 {
		c.failf("seq", "%d: must be at least 1", s.Seq)
	}
	if s.Done < 0 || s.Total < 0 || s.Done > MaxProgress || s.Total > MaxProgress {
		c.failf("done", "progress %d of %d out of range [0, %d]", s.Done, s.Total, int64(MaxProgress))
	}
	c.time("time", s.Time)
}

// MaxProgress bounds a Status's Done and Total (bytes: 1 PiB).
const MaxProgress = 1 << 50
