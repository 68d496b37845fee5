package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/node"
)

// storedJob writes a job record straight into s's job store, as the
// requester leaves one after its runs (edit fills it in), with its spec
// block stored first, and returns the job ID. The market does not drive a
// record it did not submit, so the record stays as written.
func storedJob(t *testing.T, s *Server, name string, edit func(*market.Job)) string {
	t.Helper()
	ctx := context.Background()
	spec, err := jobspec.Parse([]byte(jobYAML(name)), "spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, id, err := jobspec.Encode(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blocks.NewBlockWithCid(raw, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.n.Content.PutBlock(ctx, b); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	j := &market.Job{ID: id.String(), Name: spec.Name, Type: string(spec.Type), Engine: spec.Engine.Kind(), Count: spec.Count,
		State: market.Completed, Created: now, Updated: now, Attempts: 1,
		Events: []market.Event{{Time: now, Type: "state", State: market.Pending, Message: "submitted"}}}
	if edit != nil {
		edit(j)
	}
	if err := s.n.Market.Jobs().Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// absentCID is a dag-cbor CID no node holds (not the empty block's, which
// block stores answer without holding it).
func absentCID(t *testing.T) string {
	t.Helper()
	h, err := mh.Sum([]byte(t.Name()+" holds nothing"), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagCBOR, h).String()
}

// failedTimeout is a job whose one run ran past its timeout, after an
// award lost to a declining executor.
func failedTimeout(j *market.Job) {
	t0 := j.Created
	j.State, j.Attempts = market.Failed, 2
	j.Error = "timeout: ran past the spec's timeout of 1s on 12D3KooWExec"
	j.Bids = []market.BidInfo{{Peer: "12D3KooWExec", LocalBytes: 10, TotalBytes: 20, FreeSlots: 1, EstStart: time.Second, Received: t0}}
	j.Declines = []market.DeclineInfo{{Peer: "12D3KooWFull", Code: "no_capacity", Reason: "queue full", Time: t0}}
	j.Awards = []market.AwardInfo{
		{ID: "award-1", Executor: "12D3KooWFull", State: "declined", Time: t0, Error: "no_capacity: queue full"},
		{ID: "award-2", Executor: "12D3KooWExec", State: "failed", Time: t0, Accepted: t0, Error: "timeout: ran past 1s"},
	}
	j.Receipts = []market.ReceiptInfo{{CID: "bafyreceipt", AwardID: "award-2", Executor: "12D3KooWExec", ExitCode: -1,
		Error: "timeout: ran past 1s", Started: t0, Finished: t0.Add(time.Second)}}
	j.Events = append(j.Events, market.Event{Time: t0, Type: "state", State: market.Failed, Message: "failed: " + j.Error})
}

func TestHandlerSubmit(t *testing.T) {
	s, _ := apiNode(t)
	var first, again SubmitResponse
	// A label no node has: the job stays queued, so that the second POST
	// finds it live (a failed job submitted again runs again, not Existing).
	spec := jobYAML("submit") + "constraints:\n  labels:\n    gpu: h100\n"
	wantOK(t, post(t, s, "/jobs", "application/yaml", spec), &first)
	// Its loop starts at once, so the state read for the answer may
	// already be past pending; the record starts with the submission.
	if first.ID == "" || first.Existing || first.State == "" {
		t.Fatalf("POST /jobs = %+v, want a new job", first)
	}
	var fj JobResponse
	wantOK(t, get(t, s, "/jobs/"+first.ID), &fj)
	if len(fj.Events) == 0 || fj.Events[0].State != JobPending || fj.Events[0].Message != "submitted" {
		t.Fatalf("job %s events %+v, want it to start with its submission", first.ID, fj.Events)
	}
	wantOK(t, post(t, s, "/jobs", "application/yaml", spec), &again)
	if again.ID != first.ID || !again.Existing {
		t.Fatalf("same spec again = %+v, want the existing job %s", again, first.ID)
	}
	var js SubmitResponse
	wantOK(t, post(t, s, "/jobs", "application/json", `{"name": "submit-json", "engine": {"wasm": {"module": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}}}`), &js)
	if js.ID == "" || js.ID == first.ID || js.Existing {
		t.Fatalf("POST /jobs of a JSON spec = %+v, want a new job", js)
	}

	for _, tc := range []struct {
		name, ct, body string
		msg            []string
	}{
		{"malformed YAML", "application/yaml", "name: a\nengine: [\n", []string{"spec.yaml", "syntax error", "line 2"}},
		{"malformed JSON", "application/json", `{"name": "a", "engine": `, []string{"spec.json", "syntax error"}},
		{"invalid spec", "application/yaml", "name: a\n", []string{"engine: required", "engine.wasm"}},
		{"oversized spec", "application/yaml", "name: a\n" + strings.Repeat("#", jobspec.MaxDocumentSize), []string{"larger than 1048576 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, post(t, s, "/jobs", tc.ct, tc.body), http.StatusBadRequest, CodeBadRequest, tc.msg...)
		})
	}
	if n := jobCount(t, s); n != 2 {
		t.Fatalf("%d jobs after the refused ones, want the 2 accepted", n)
	}
}

// POST /jobs?cid= runs a spec block by its CID.
func TestHandlerSubmitCID(t *testing.T) {
	s, _ := apiNodeWith(t, func(c *node.Config) { c.Content.FindProvidersTimeout = node.Duration(200 * time.Millisecond) })
	id := storedJob(t, s, "by-cid", failedTimeout) // its spec block is here; failed, so it runs again
	var res SubmitResponse
	wantOK(t, post(t, s, "/jobs?cid="+id, "", ""), &res)
	if res.ID != id || res.Existing {
		t.Fatalf("POST /jobs?cid=%s = %+v, want that job resubmitted", id, res)
	}
	// Its loop runs at once and, with no executor here, may fail it again
	// before the answer is read: the record shows the resubmission.
	var j JobResponse
	wantOK(t, get(t, s, "/jobs/"+id), &j)
	resubmitted := false
	for _, e := range j.Events {
		resubmitted = resubmitted || (e.State == JobPending && e.Message == "resubmitted")
	}
	if !resubmitted {
		t.Fatalf("job %s after POST /jobs?cid: %+v, want a resubmitted event", id, j.Events)
	}
	wantError(t, post(t, s, "/jobs?cid=not-a-cid", "", ""), http.StatusBadRequest, CodeBadRequest, "not-a-cid")
	// A block that is not a spec: the raw leaf of a file.
	leaf := addFile(t, s, "notaspec.txt", "hello")
	wantError(t, post(t, s, "/jobs?cid="+leaf, "", ""), http.StatusBadRequest, CodeBadRequest, leaf, "is not a job spec")
	// A spec nobody holds.
	absent := absentCID(t)
	wantError(t, post(t, s, "/jobs?cid="+absent, "", ""), http.StatusNotFound, CodeNotFound, absent)
}

func TestHandlerListJobs(t *testing.T) {
	s, _ := apiNode(t)
	var empty []JobSummary
	wantOK(t, get(t, s, "/jobs"), &empty)
	if len(empty) != 0 {
		t.Fatalf("GET /jobs of a new node = %+v", empty)
	}
	old := storedJob(t, s, "listed-failed", func(j *market.Job) {
		failedTimeout(j)
		j.Created = j.Created.Add(-time.Hour)
	})
	var res SubmitResponse
	wantOK(t, post(t, s, "/jobs", "application/yaml", jobYAML("listed-new")), &res)

	rec := get(t, s, "/jobs")
	var jobs []JobSummary
	wantOK(t, rec, &jobs)
	if len(jobs) != 2 || jobs[0].ID != res.ID || jobs[1].ID != old {
		t.Fatalf("GET /jobs = %+v, want %s then %s (newest first)", jobs, res.ID, old)
	}
	f := jobs[1]
	if f.State != JobFailed || f.Name != "listed-failed" || f.Engine != "wasm" || f.Type != "batch" || f.Count != 1 || f.Attempts != 2 ||
		f.ErrorCode != "timeout" || !strings.HasPrefix(f.Error, "timeout: ") {
		t.Fatalf("listed failed job = %+v", f)
	}
	// Entries are summaries: no event log, no bids.
	var raw []map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &raw)
	for _, k := range []string{"events", "bids", "awards", "receipts"} {
		if _, ok := raw[1][k]; ok {
			t.Fatalf("list entry has %q: %s", k, rec.Body)
		}
	}
}

func TestHandlerDescribeJob(t *testing.T) {
	s, _ := apiNode(t)
	id := storedJob(t, s, "described", failedTimeout)
	var j JobResponse
	wantOK(t, get(t, s, "/jobs/"+id), &j)
	if j.ID != id || j.State != JobFailed || !strings.Contains(j.Spec, "name: described") {
		t.Fatalf("GET /jobs/%s = %+v, want the failed job with its spec", id, j)
	}
	if j.ErrorCode != "timeout" || j.Error != "timeout: ran past the spec's timeout of 1s on 12D3KooWExec" {
		t.Fatalf("error %q, error_code %q; want the text as stored and code timeout", j.Error, j.ErrorCode)
	}
	if len(j.Awards) != 2 || j.Awards[0].ErrorCode != "no_capacity" || j.Awards[1].ErrorCode != "timeout" || j.Awards[1].Accepted.IsZero() {
		t.Fatalf("awards = %+v, want codes no_capacity and timeout", j.Awards)
	}
	if len(j.Receipts) != 1 || j.Receipts[0].ErrorCode != "timeout" || j.Receipts[0].ExitCode != -1 || j.Receipts[0].Finished.Sub(j.Receipts[0].Started) != time.Second {
		t.Fatalf("receipts = %+v", j.Receipts)
	}
	if len(j.Bids) != 1 || j.Bids[0].EstStart != time.Second || len(j.Declines) != 1 || j.Declines[0].Code != "no_capacity" {
		t.Fatalf("bids %+v, declines %+v", j.Bids, j.Declines)
	}
	if len(j.Events) != 2 || j.Events[1].State != JobFailed {
		t.Fatalf("events = %+v", j.Events)
	}
	// A job that failed for a reason with no code has none.
	free := storedJob(t, s, "free-text", func(j *market.Job) { j.State, j.Error = market.Failed, "no receipt" })
	var fj JobResponse
	wantOK(t, get(t, s, "/jobs/"+free), &fj)
	if fj.Error != "no receipt" || fj.ErrorCode != "" || fj.Events == nil {
		t.Fatalf("free-text failure: error %q, error_code %q, events %v", fj.Error, fj.ErrorCode, fj.Events)
	}

	unknown := absentCID(t)
	wantError(t, get(t, s, "/jobs/"+unknown), http.StatusNotFound, CodeNotFound, unknown, "kept by the node that submitted them")
	wantError(t, get(t, s, "/jobs/not-a-cid"), http.StatusNotFound, CodeNotFound, "not-a-cid")
}

func TestHandlerJobEvents(t *testing.T) {
	s, _ := apiNode(t)
	id := storedJob(t, s, "events", failedTimeout)
	rec := get(t, s, "/jobs/"+id+"/events")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	lines := ndjsonLines[JobEvent](t, rec)
	if len(lines) != 3 || lines[0].Event == nil || lines[0].Event.Message != "submitted" || lines[1].Event == nil || lines[1].Event.State != JobFailed {
		t.Fatalf("events of a finished job = %+v, want its 2 events then the final record", lines)
	}
	if f := lines[2].Final; f == nil || f.ID != id || f.State != JobFailed || f.ErrorCode != "timeout" || len(f.Receipts) != 1 {
		t.Fatalf("final line = %+v, want the failed record with error_code timeout", lines[2])
	}
	wantError(t, get(t, s, "/jobs/"+absentCID(t)+"/events"), http.StatusNotFound, CodeNotFound)
}

// A job in flight: its events stream live, and a cancel ends the stream
// with the cancelled record.
func TestHandlerCancelJob(t *testing.T) {
	s, _ := apiNode(t)
	c, err := NewClient(s.Addr().String(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A label nobody has keeps the job in flight (bidding, then pending)
	// until it is cancelled: the node cannot run it, so no receipt races
	// the cancel.
	res, err := c.Submit(ctx, []byte(jobYAML("cancelled")+"constraints:\n  labels:\n    gpu: h100\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	cancelled := make(chan *SubmitResponse, 1)
	final, err := c.Events(ctx, res.ID, func(e Event) {
		if e.Message != "submitted" {
			return
		}
		var r SubmitResponse
		wantOK(t, post(t, s, "/jobs/"+res.ID+"/cancel", "", ""), &r)
		cancelled <- &r
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := <-cancelled; r.ID != res.ID || r.State != JobCancelled {
		t.Fatalf("POST /jobs/%s/cancel = %+v", res.ID, r)
	}
	if final.State != JobCancelled || final.ID != res.ID {
		t.Fatalf("final record %+v, want cancelled", final)
	}
	wantError(t, post(t, s, "/jobs/"+res.ID+"/cancel", "", ""), http.StatusConflict, CodeConflict)
	wantError(t, post(t, s, "/jobs/"+absentCID(t)+"/cancel", "", ""), http.StatusNotFound, CodeNotFound)
}
