package bidding

import "slices"

// The stable codes of docs/protocol.md §6, one list per table of it. They
// are the one source of truth for readers that must tell a code from free
// text (the API taking the code a record's message starts with); a code
// added to a table is added here, and TestCodesMatchProtocolDoc fails
// until both agree.
var (
	// declineCodes: the decline table (a bidder's answer to an announce,
	// an executor's to an award or a query). cancelled is also an
	// executor's decline of an award cancelled before it arrived.
	declineCodes = []Code{
		CodeEngineUnavailable, CodeLabelsMismatch, CodeResourcesExceeded, CodeNoCapacity,
		CodeLocalityRequired, CodeInputTooLarge, CodeNotEligible, CodePolicyDenied,
		CodeRequesterDenied, CodeEngineDenied, CodeImageDenied, CodeInputsNotHeld,
		CodeRateLimited, CodeConcurrencyLimit,
		CodeAwardExpired, CodeAwardReplayed, CodeWrongExecutor, CodeBadRequest,
		CodeUnknownAward, CodeCancelled, CodeShuttingDown,
	}
	// receiptCodes: a receipt's error_code. input_too_large is also the
	// executor's when an input passes its byte bound while fetching.
	receiptCodes = []Code{
		CodeTimeout, CodeOutOfMemory, CodeDiskLimit, CodeFetchFailed, CodeEngineError,
		CodePublishFailed, CodeCancelled, CodeBadInput, CodeInputTooLarge, CodeWorkerCrashed, CodeBadRequest,
		CodeTrap,
	}
	// outcomeCodes: the requester's outcome table (outcome.go); cancelled
	// is also a job the user cancelled.
	outcomeCodes = []Code{
		CodeNoExecutor, CodeCancelled, CodeNoReceipt, CodeExitNonZero, CodeSpecUnavailable,
		CodeBadSpec, CodeAwardLost, CodeRunOverdue, CodeSuperseded,
		CodeUnverified,
	}
	knownCodes = func() map[Code]bool {
		m := map[Code]bool{}
		for _, l := range [][]Code{declineCodes, receiptCodes, outcomeCodes} {
			for _, c := range l {
				m[c] = true
			}
		}
		return m
	}()
)

// DeclineCodes returns the decline codes of docs/protocol.md §6.
func DeclineCodes() []Code { return slices.Clone(declineCodes) }

// ReceiptCodes returns the receipt error codes of docs/protocol.md §6.
func ReceiptCodes() []Code { return slices.Clone(receiptCodes) }

// OutcomeCodes returns the requester outcome codes of docs/protocol.md §6.
func OutcomeCodes() []Code { return slices.Clone(outcomeCodes) }

// Codes returns every stable code of docs/protocol.md §6 (decline,
// receipt and outcome codes), each once, sorted.
func Codes() []Code {
	out := make([]Code, 0, len(knownCodes))
	for c := range knownCodes {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// KnownCode reports whether c is one of the stable codes of
// docs/protocol.md §6. A reader meeting an unknown but Valid code (from a
// newer node) treats it as a plain refusal or failure.
func KnownCode(c Code) bool { return knownCodes[c] }
