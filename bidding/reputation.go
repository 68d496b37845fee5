package bidding

import (
	"time"
)

// Reputation (docs/security.md "Reputation"): what a requester saw of each
// executor it used. It is local to the node, never gossiped: a peer's
// claims about others change nothing here.

// RepEvent is one thing a requester saw of an executor.
type RepEvent uint8

// Reputation events.
const (
	RepCompleted    RepEvent = iota + 1 // a receipt that settled a job of it
	RepAgreement                        // its receipt was in a verified job's agreeing set
	RepDisagreement                     // the quorum of a verified job outvoted its receipt
	RepFailure                          // a receipt failing on the executor's side (a retryable code, engine_error, worker_crashed)
	RepTimeout                          // an accepted award lost: no heartbeat, no answer, or past its run deadline
)

// Reputation is the record of one executor.
type Reputation struct {
	Completed     int       `json:"completed"`
	Agreements    int       `json:"agreements"`
	Disagreements int       `json:"disagreements"`
	Failures      int       `json:"failures"`
	Timeouts      int       `json:"timeouts"`
	LastSeen      time.Time `json:"last_seen"`
	// LastDisagreement is when its receipt was last outvoted (zero:
	// never).
	LastDisagreement time.Time `json:"last_disagreement,omitzero"`
}

// Weights of Score: a disagreement weighs much more than any number of
// successes a liar can cheaply earn between its lies.
const (
	RepWeightCompleted    = 1
	RepWeightAgreement    = 2
	RepWeightFailure      = -5
	RepWeightTimeout      = -5
	RepWeightDisagreement = -100
)

// Note adds one event seen at now.
func (r *Reputation) Note(ev RepEvent, now time.Time) {
	switch ev {
	case RepCompleted:
		r.Completed++
	case RepAgreement:
		r.Agreements++
	case RepDisagreement:
		r.Disagreements++
		r.LastDisagreement = now
	case RepFailure:
		r.Failures++
	case RepTimeout:
		r.Timeouts++
	}
	if now.After(r.LastSeen) {
		r.LastSeen = now
	}
}

// Score is the executor's reputation as one number: completed runs and
// agreements add, failures and timeouts subtract, a disagreement
// subtracts RepWeightDisagreement. A node never used scores 0; ranking
// (WithReputation) puts a negative score after every other bidder.
func (r Reputation) Score() int {
	return r.Completed*RepWeightCompleted + r.Agreements*RepWeightAgreement +
		r.Failures*RepWeightFailure + r.Timeouts*RepWeightTimeout + r.Disagreements*RepWeightDisagreement
}

// DisagreedWithin reports whether the executor was outvoted within d
// before now.
func (r Reputation) DisagreedWithin(d time.Duration, now time.Time) bool {
	return !r.LastDisagreement.IsZero() && now.Sub(r.LastDisagreement) < d
}

// RepOfReceipt is the event a settling receipt counts as.
func RepOfReceipt(rc *ReceiptOutcome) RepEvent {
	if rc.Code != "" && (Retryable(rc.Code) || rc.Code == CodeEngineError || rc.Code == CodeWorkerCrashed) {
		return RepFailure
	}
	return RepCompleted
}
