package bidding

import (
	"errors"
	"fmt"
	"regexp"
)

// Sentinel errors. Errors returned by this package wrap them with context.
var (
	ErrTooLarge        = errors.New("bidding: message too large")
	ErrMalformed       = errors.New("bidding: malformed message")
	ErrNonCanonical    = errors.New("bidding: message not in canonical form")
	ErrVersion         = errors.New("bidding: unsupported message version")
	ErrUnexpectedKind  = errors.New("bidding: unexpected message type")
	ErrInvalid         = errors.New("bidding: invalid message")
	ErrBadSignature    = errors.New("bidding: bad signature")
	ErrSignerMismatch  = errors.New("bidding: signing key is not the sender's")
	ErrNoPublicKey     = errors.New("bidding: peer ID does not embed a public key")
	ErrSpecMismatch    = errors.New("bidding: inline spec does not match the job CID")
	ErrSpecNotInline   = errors.New("bidding: spec not inline; fetch it by the job CID")
	ErrAwardExpired    = errors.New("bidding: award expired")
	ErrAwardReplayed   = errors.New("bidding: award already seen")
	ErrAwardFromFuture = errors.New("bidding: award issued in the future")
	ErrWrongExecutor   = errors.New("bidding: award addressed to another executor")
	ErrDedupFull       = errors.New("bidding: too many live awards")
	ErrStatusOrder     = errors.New("bidding: status out of order")
	ErrBadTransition   = errors.New("bidding: state transition not allowed")
)

// Code is a stable reason code carried by Decline messages and receipts. Codes
// never change meaning; new ones may be added, so a reader treats an unknown
// code as a generic refusal.
type Code string

// Decline codes of a bidder (answer to an announce).
const (
	CodeEngineUnavailable Code = "engine_unavailable" // the node does not run the job's engine
	CodeLabelsMismatch    Code = "labels_mismatch"    // a label constraint is not met
	CodeResourcesExceeded Code = "resources_exceeded" // the job needs more than the node has in total
	CodeNoCapacity        Code = "no_capacity"        // the node's queue is full
	CodeLocalityRequired  Code = "locality_required"  // locality: required and the node lacks inputs
	CodeInputTooLarge     Code = "input_too_large"    // the inputs exceed the node's size limit
	CodeNotEligible       Code = "not_eligible"       // constraints.executors excludes this node
	CodePolicyDenied      Code = "policy_denied"      // the operator's policy refuses the requester or job
)

// Decline codes of the operator's admission policy (package bidding/policy),
// each a more precise policy_denied. Resource ceilings and the input size
// limit of a policy use resources_exceeded and input_too_large.
const (
	CodeRequesterDenied  Code = "requester_denied"  // the requester is not among the allowed peers or orgs
	CodeEngineDenied     Code = "engine_denied"     // the policy does not allow the job's engine
	CodeImageDenied      Code = "image_denied"      // the docker image is not on the allow-list
	CodeInputsNotHeld    Code = "inputs_not_held"   // the node only runs jobs whose inputs it holds
	CodeRateLimited      Code = "rate_limited"      // the requester started too many jobs here recently
	CodeConcurrencyLimit Code = "concurrency_limit" // the requester has too many jobs on this node now
)

// Decline codes of an executor (answer to an award or a query).
const (
	CodeAwardExpired  Code = "award_expired"  // Expires is past
	CodeAwardReplayed Code = "award_replayed" // the award ID was already seen
	CodeWrongExecutor Code = "wrong_executor" // the award names another executor
	CodeBadRequest    Code = "bad_request"    // the message failed validation
	CodeUnknownAward  Code = "unknown_award"  // a query for an award this node never accepted
	CodeShuttingDown  Code = "shutting_down"  // the node is stopping
)

var codeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Valid reports whether c is syntactically a code: 1 to 32 characters of
// a-z, 0-9 and _, starting with a letter.
func (c Code) Valid() bool { return codeRE.MatchString(string(c)) }

// Refusal is the error Admit and Dedup.Check return to refuse a job or an
// award: a stable Code and a human reason. NewDecline turns it into a
// message.
type Refusal struct {
	Code   Code
	Reason string
	Err    error // optional cause, for errors.Is
}

func (r *Refusal) Error() string {
	if r.Reason == "" {
		return "refused: " + string(r.Code)
	}
	return fmt.Sprintf("refused (%s): %s", r.Code, r.Reason)
}

func (r *Refusal) Unwrap() error { return r.Err }

func refuse(code Code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Reason: fmt.Sprintf(format, args...)}
}
