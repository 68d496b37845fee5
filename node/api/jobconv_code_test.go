package api

import (
	"encoding/json"
	"testing"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/market"
)

// The API shows the code the record stores, also for an outcome whose
// message starts with no code (a requester outcome); a record written
// before records stored codes (no error_code in its JSON) still loads and
// shows the code its message starts with.
func TestJobConvErrorCode(t *testing.T) {
	stored := &market.Job{ID: "j", State: market.Failed, ErrorCode: bidding.CodeNoExecutor,
		Error:    "no executor completed the job within its queue timeout (1s): no node answered",
		Awards:   []market.AwardInfo{{ID: "a", State: "lost", ErrorCode: bidding.CodeRunOverdue, Error: "run overdue: no receipt by …"}},
		Receipts: []market.ReceiptInfo{{AwardID: "a", ErrorCode: bidding.CodeTimeout, Error: "timeout: ran past 1s"}}}
	got := jobOf(stored)
	if got.ErrorCode != "no_executor" || got.Awards[0].ErrorCode != "run_overdue" || got.Receipts[0].ErrorCode != "timeout" {
		t.Fatalf("stored codes: job %q award %q receipt %q", got.ErrorCode, got.Awards[0].ErrorCode, got.Receipts[0].ErrorCode)
	}
	if s := jobSummaryOf(stored); s.ErrorCode != "no_executor" {
		t.Fatalf("summary code %q", s.ErrorCode)
	}

	old := `{"id":"j","type":"batch","engine":"wasm","count":1,"state":"failed","attempts":1,
		"error":"bad_input: symlink root on 12D3KooWX","events":[],
		"awards":[{"id":"a","executor":"12D3KooWX","state":"declined","error":"no_capacity: queue full"}],
		"receipts":[{"cid":"bafy","award_id":"a","executor":"12D3KooWX","exit_code":-1,"error":"bad_input: symlink root"}]}`
	var j market.Job
	if err := json.Unmarshal([]byte(old), &j); err != nil {
		t.Fatalf("an old record does not load: %v", err)
	}
	got = jobOf(&j)
	if got.ErrorCode != "bad_input" || got.Awards[0].ErrorCode != "no_capacity" || got.Receipts[0].ErrorCode != "bad_input" {
		t.Fatalf("old record codes: job %q award %q receipt %q", got.ErrorCode, got.Awards[0].ErrorCode, got.Receipts[0].ErrorCode)
	}
}

// Every code of docs/protocol.md §6 (bidding.Codes, checked against the
// doc in package bidding) is taken from the head of an old record's
// message; free text is not.
func TestErrorCodeKnowsEveryCode(t *testing.T) {
	for _, c := range bidding.Codes() {
		if got := errorCode(string(c) + ": some reason"); got != string(c) {
			t.Errorf("errorCode(%q: …) = %q", c, got)
		}
		if got := errorCode(string(c)); got != string(c) {
			t.Errorf("errorCode(%q) = %q", c, got)
		}
	}
	for _, msg := range []string{"", "queue full", "no node answered: none", "cancelled by the user"} {
		if got := errorCode(msg); got != "" {
			t.Errorf("errorCode(%q) = %q, want none", msg, got)
		}
	}
}
