package jobspec

import "fmt"

// Verify asks for a batch job to be run by Replicas distinct executors
// and its result accepted only when Quorum of their receipts agree
// (outputs, stdout and stderr CIDs and exit code equal; docs/jobspec.md
// "verify"). A verified wasm job is deterministic by default.
type Verify struct {
	// Replicas is how many distinct executors run the job at first
	// (2 to MaxReplicas). On a disagreement the requester awards more,
	// up to Replicas + ExtraReplicas in all.
	Replicas int
	// Quorum is how many agreeing receipts make the result (default: a
	// majority of Replicas; at least that majority, at most Replicas).
	Quorum int
	// Distinct says what replicas must not share: a peer (default) or an
	// org (distinct organizations when the bidders' orgs allow it).
	Distinct Distinct
}

// Distinct is what the replicas of a verified job must not share.
type Distinct string

const (
	// DistinctPeer (default): every replica runs on another node.
	DistinctPeer Distinct = "peer"
	// DistinctOrg: replicas run in distinct organizations while bidders
	// of unused organizations are available, else on distinct nodes.
	DistinctOrg Distinct = "org"
)

// Limits and defaults of verify.
const (
	// MinReplicas: one replica verifies nothing.
	MinReplicas = 2
	// MaxReplicas bounds verify.replicas.
	MaxReplicas = 16
	// ExtraReplicas is how many more replicas a disagreement may bring:
	// at most Replicas + ExtraReplicas awards reach an executor in all.
	ExtraReplicas = 2
	// DefaultDistinct is the distinct of a verify that sets none.
	DefaultDistinct = DistinctPeer
)

// Majority is the default quorum of n replicas: more than half.
func Majority(n int) int { return n/2 + 1 }

// MaxAwards is how many replicas may be awarded in all.
func (v *Verify) MaxAwards() int { return v.Replicas + ExtraReplicas }

// Executors is how many executors run the job at once at first: its
// verify.replicas when verified, else its count.
func (s *Spec) Executors() int {
	if s.Verify != nil {
		return s.Verify.Replicas
	}
	return s.Count
}

func (v *Verify) fillDefaults() {
	if v.Quorum == 0 {
		v.Quorum = Majority(v.Replicas)
	}
	if v.Distinct == "" {
		v.Distinct = DefaultDistinct
	}
}

func (s *Spec) validateVerify(l *errList) {
	v := s.Verify
	if v == nil {
		return
	}
	if s.Type != Batch {
		l.addf("verify", ErrInvalid, "an %s job runs on every node and cannot be verified; verify is for batch jobs", s.Type)
	}
	if s.Count != 1 {
		l.addf("verify", ErrInvalid, "count is %d: verify runs one job on verify.replicas nodes; drop count", s.Count)
	}
	if v.Replicas < MinReplicas || v.Replicas > MaxReplicas {
		l.addf("verify.replicas", ErrInvalid, "%d: use %d to %d replicas (one run verifies nothing)", v.Replicas, MinReplicas, MaxReplicas)
	} else if v.Quorum < Majority(v.Replicas) || v.Quorum > v.Replicas {
		l.addf("verify.quorum", ErrInvalid, "%d: with %d replicas the quorum is %d to %d (a majority, so that two results can never both reach it)",
			v.Quorum, v.Replicas, Majority(v.Replicas), v.Replicas)
	}
	switch v.Distinct {
	case DistinctPeer, DistinctOrg:
	default:
		l.addf("verify.distinct", ErrInvalid, "%q: use peer or org", v.Distinct)
	}
	if w := s.Engine.Wasm; w != nil && w.Deterministic != nil && !*w.Deterministic {
		l.addf("engine.wasm.deterministic", ErrInvalid, "false, but verify compares the replicas' outputs: a verified wasm job runs deterministically (drop deterministic: false)")
	}
	if len(s.Publish) > 0 {
		l.addf("publish", ErrInvalid, "a verified job publishes nothing itself: every replica would upload its own outputs before they are compared; publish the agreed outputs afterwards")
	}
}

func (v *Verify) String() string {
	return fmt.Sprintf("%d replicas, quorum %d, distinct %s", v.Replicas, v.Quorum, v.Distinct)
}
