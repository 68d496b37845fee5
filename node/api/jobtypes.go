package api

import "time"

// The job types of the API. They are the API's own, not the requester's
// storage records (bidding/market): the conversions in jobconv.go are the
// one place where a change of the store meets the API, so the disk format
// may change while these JSON names and shapes stay. The names are those
// the API has shown since v0.

// JobState is the state of a job as the API shows it; the values are the
// requester's job states of docs/protocol.md §7.
type JobState string

// Job states.
const (
	JobPending   JobState = "pending"
	JobBidding   JobState = "bidding"
	JobAwarded   JobState = "awarded"
	JobRunning   JobState = "running"
	JobCompleted JobState = "completed"
	JobFailed    JobState = "failed"
	JobCancelled JobState = "cancelled"
)

// Terminal reports whether the job has ended (completed, failed or
// cancelled): its record no longer changes.
func (s JobState) Terminal() bool {
	return s == JobCompleted || s == JobFailed || s == JobCancelled
}

// SubmitResponse is POST /jobs and POST /jobs/{id}/cancel.
type SubmitResponse struct {
	ID string `json:"id"`
	// Existing: a job with this spec (so this ID) was submitted before;
	// the answer is that job.
	Existing bool     `json:"existing"`
	State    JobState `json:"state"`
}

// JobSummary is one entry of GET /jobs: a job without its bids, awards,
// receipts and events (GET /jobs/{id} has them).
type JobSummary struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	Type     string    `json:"type"`
	Engine   string    `json:"engine"`
	Count    int       `json:"count"`
	State    JobState  `json:"state"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Attempts int       `json:"attempts"`
	// Error says why the job failed, for people.
	Error string `json:"error,omitempty"`
	// ErrorCode is the stable code of the outcome (docs/protocol.md §6: a
	// receipt, decline or requester outcome code; a script tests this,
	// not Error's text). For a record written before the requester stored
	// codes, it is the code Error starts with, if any.
	ErrorCode string `json:"error_code,omitempty"`
	// Parent is the partitioned job this job is a task of.
	Parent string `json:"parent,omitempty"`
}

// Job is a job's whole record as the requester keeps it: the final line of
// GET /jobs/{id}/events, and the body of GET /jobs/{id} (JobResponse).
type Job struct {
	JobSummary
	Bids     []Bid     `json:"bids,omitempty"`
	Declines []Decline `json:"declines,omitempty"`
	Awards   []Award   `json:"awards,omitempty"`
	Receipts []Receipt `json:"receipts,omitempty"`
	// Late are verified receipts of superseded awards that did not settle
	// the job (docs/protocol.md, failover).
	Late []Receipt `json:"late_receipts,omitempty"`
	// Verification is the verdict on a verified job's replicas (spec
	// verify; absent for other jobs and until judged).
	Verification *Verification `json:"verification,omitempty"`
	Events       []Event       `json:"events"`
	// Partition is a partitioned job's tasks and result (type
	// "partition"); GET /jobs/{id} also gives each task's executor and
	// locality.
	Partition *Partition `json:"partition,omitempty"`
}

// Verification is how a verified job's receipts were judged
// (docs/protocol.md §10).
type Verification struct {
	// Verified: a quorum of receipts agreed (outputs, stdout, stderr,
	// exit code).
	Verified bool `json:"verified"`
	Replicas int  `json:"replicas"`
	Quorum   int  `json:"quorum"`
	// Agreeing are the agreeing receipts' executors (peer IDs).
	Agreeing []string `json:"agreeing,omitempty"`
	// Groups are the award IDs (as in receipts[].award_id) of each
	// result, the largest first; when verified, the first is the
	// agreeing set.
	Groups [][]string `json:"groups"`
	// Summary is "verified 3/3", or "unverified 1/3".
	Summary string `json:"summary"`
}

// JobResponse is GET /jobs/{id}: the record and the spec.
type JobResponse struct {
	Job
	Spec string `json:"spec"` // YAML; empty when the spec block is not here
	// Inputs are the spec's inputs (absent when the spec block is not here).
	Inputs []JobInput `json:"inputs,omitempty"`
}

// JobInput is one input of a job: a CID and where the job sees it.
type JobInput struct {
	CID  string `json:"cid"`
	Path string `json:"path"`
}

// Bid is a bid the requester received.
type Bid struct {
	Peer       string `json:"peer"`
	LocalBytes int64  `json:"local_bytes"`
	TotalBytes int64  `json:"total_bytes"`
	FreeSlots  int    `json:"free_slots"`
	QueueDepth int    `json:"queue_depth"`
	// EstStart is the bidder's estimate of the wait before the job starts,
	// in nanoseconds (a Go time.Duration).
	EstStart time.Duration `json:"est_start"`
	Received time.Time     `json:"received"`
}

// Decline is a node's refusal of the job, with its stable code
// (docs/protocol.md §6).
type Decline struct {
	Peer   string    `json:"peer"`
	Code   string    `json:"code"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// Award is one award of the job to an executor.
type Award struct {
	ID       string `json:"id"`
	Executor string `json:"executor"`
	// State: offered, accepted, fetching, running, publishing, completed,
	// failed, declined or lost.
	State string    `json:"state"`
	Time  time.Time `json:"time"`
	// Accepted is when the executor accepted; absent before.
	Accepted  time.Time `json:"accepted,omitzero"`
	Error     string    `json:"error,omitempty"`
	ErrorCode string    `json:"error_code,omitempty"` // the code of the award's end (see JobSummary.ErrorCode)
	// Phases are the award's states in order, each from its Start to the
	// next one's: offered, accepted (queued on the executor), fetching,
	// running, publishing, then how it ended.
	Phases []Phase `json:"phases,omitempty"`
}

// Phase is one state of an award, as the executor reported it.
type Phase struct {
	Phase string    `json:"phase"`
	Start time.Time `json:"start"`
	// Done and Total are its progress (fetching: bytes of the job's
	// content local so far, and in all as far as the executor knows).
	Done  int64 `json:"done,omitempty"`
	Total int64 `json:"total,omitempty"`
}

// Receipt is a verified receipt of a run.
type Receipt struct {
	CID      string `json:"cid"`
	AwardID  string `json:"award_id"`
	Executor string `json:"executor"`
	ExitCode int    `json:"exit_code"`
	// Error and ErrorCode are set when the run did not complete: the
	// receipt's error_code (docs/protocol.md §6) and its message.
	Error     string    `json:"error,omitempty"`
	ErrorCode string    `json:"error_code,omitempty"`
	Outputs   string    `json:"outputs,omitempty"` // CID of the outputs directory
	Stdout    string    `json:"stdout,omitempty"`  // CID of the stdout file
	Stderr    string    `json:"stderr,omitempty"`  // CID of the stderr file
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	// Late marks a receipt of a superseded award that arrived after the
	// requester gave up on it.
	Late bool `json:"late,omitempty"`
	// Reused marks the receipt of an earlier run of the job that the
	// network held: the job completed without an execution.
	Reused bool `json:"reused,omitempty"`
	// Imports lists the url and s3 inputs the executor downloaded (their
	// CIDs and validators); Published the outcome of each publish target.
	Imports   []Import  `json:"imports,omitempty"`
	Published []Publish `json:"published,omitempty"`
}

// Import is a remote input as the executor imported it.
type Import struct {
	Source       string    `json:"source"`
	Path         string    `json:"path"`
	CID          string    `json:"cid"`
	ETag         string    `json:"etag,omitempty"`
	LastModified time.Time `json:"last_modified,omitzero"`
	// Reused: already imported and unchanged (ETag), not downloaded.
	Reused bool `json:"reused,omitempty"`
}

// Publish is the outcome of a publish target.
type Publish struct {
	Target   string `json:"target"`
	Required bool   `json:"required,omitempty"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
}

// Event is one line of a job's log.
type Event struct {
	Time time.Time `json:"time"`
	// Type: state, bid, decline, award, status, receipt, error, announce.
	Type    string   `json:"type"`
	State   JobState `json:"state,omitempty"` // with Type state
	Peer    string   `json:"peer,omitempty"`
	Message string   `json:"message"`
}

// JobEvent is one line of GET /jobs/{id}/events: an event, or the final
// record when the job ended (Final set).
type JobEvent struct {
	Event *Event `json:"event,omitempty"`
	Final *Job   `json:"final,omitempty"`
}

// JobLog is one line of GET /jobs/{id}/logs: a line of the job's output,
// or the end of the job (End set, last).
type JobLog struct {
	Line *LogLine `json:"line,omitempty"`
	End  *LogEnd  `json:"end,omitempty"`
}

// LogLine is a line of a job's stdout or stderr.
type LogLine struct {
	// Seq numbers the live lines of the job in the order the requester
	// received them; 0 on a line of a stored stream.
	Seq  int64     `json:"seq,omitempty"`
	Time time.Time `json:"time,omitzero"`
	// Stream: stdout or stderr.
	Stream string `json:"stream"`
	// Line is the text without its newline.
	Line string `json:"line"`
	// Dropped marks a marker line: this many bytes of the stream were
	// dropped before the next line (live logs are bounded; the stored
	// stream in the receipt is whole).
	Dropped  int64  `json:"dropped,omitempty"`
	Executor string `json:"executor,omitempty"`
	// Stored: the line comes from the receipt's stored stream.
	Stored bool `json:"stored,omitempty"`
}

// LogEnd says how the job ended.
type LogEnd struct {
	State    JobState `json:"state"`
	ExitCode int      `json:"exit_code"`
	Error    string   `json:"error,omitempty"`
}
