package bidding

// Outcome codes of the requester: why a job failed or was cancelled, or
// why an award ended, when the requester decided it rather than an
// executor (whose codes are the receipt and decline codes). They are
// stored beside the message (market.Job.ErrorCode, AwardInfo.ErrorCode)
// and shown by the API as error_code; docs/protocol.md §6 lists them.
// They never cross the wire.
const (
	CodeNoExecutor      Code = "no_executor"      // no executor completed the job within its queue timeout
	CodeAwardLost       Code = "award_lost"       // the executor stopped answering, or answered wrongly, before a receipt
	CodeRunOverdue      Code = "run_overdue"      // an accepted award had no receipt by its run deadline
	CodeSuperseded      Code = "superseded"       // a late receipt of another award settled the job first
	CodeNoReceipt       Code = "no_receipt"       // the job ended with no receipt at all
	CodeExitNonZero     Code = "exit_nonzero"     // the job ran to a non-zero exit code
	CodeSpecUnavailable Code = "spec_unavailable" // the job's spec block could not be read
	CodeBadSpec         Code = "bad_spec"         // the job's spec is invalid
	CodeUnverified      Code = "unverified"       // a verified job's receipts reached no quorum (reqverify.go); also an outvoted replica's award
)
