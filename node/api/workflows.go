package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	blocks "github.com/ipfs/go-block-format"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/bidding/workflow"
	"github.com/shoalnet/shoal/content"
)

// WorkflowSubmit is the JSON body of POST /workflows: a canonical workflow
// block (base64 in JSON), as `shoal workflow run` encodes it after adding
// the local files the workflow file names.
type WorkflowSubmit struct {
	Block []byte `json:"block"`
}

// WorkflowSubmitResponse answers POST /workflows.
type WorkflowSubmitResponse struct {
	ID       string `json:"id"`
	Existing bool   `json:"existing"`
	State    string `json:"state"`
}

// WorkflowRun is a workflow run as the API shows it.
type WorkflowRun struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	State    string         `json:"state"`
	Created  time.Time      `json:"created"`
	Updated  time.Time      `json:"updated"`
	Finished time.Time      `json:"finished,omitzero"`
	Error    string         `json:"error,omitempty"`
	Version  int64          `json:"version"`
	Steps    []WorkflowStep `json:"steps"`
}

// WorkflowStep is one step of a run.
type WorkflowStep struct {
	Name         string    `json:"name"`
	State        string    `json:"state"`
	Needs        []string  `json:"needs,omitempty"`
	Job          string    `json:"job,omitempty"`
	Executor     string    `json:"executor,omitempty"`
	Outputs      string    `json:"outputs,omitempty"`
	Error        string    `json:"error,omitempty"`
	Submitted    time.Time `json:"submitted,omitzero"`
	Started      time.Time `json:"started,omitzero"`
	Finished     time.Time `json:"finished,omitzero"`
	InputBytes   int64     `json:"input_bytes,omitempty"`
	FetchedBytes int64     `json:"fetched_bytes,omitempty"`
	Reused       bool      `json:"reused,omitempty"`
	// Partition is a partitioned step's tasks (as GET /jobs/{id} shows
	// them: shard, executor, held locally, bytes fetched, state) and its
	// result directory; GET /workflows/{id} only.
	Partition *Partition `json:"partition,omitempty"`
}

func workflowRunOf(r *workflow.Run) WorkflowRun {
	out := WorkflowRun{ID: r.ID, Name: r.Name, State: string(r.State), Created: r.Created, Updated: r.Updated,
		Finished: r.Finished, Error: r.Error, Version: r.Version, Steps: make([]WorkflowStep, len(r.Steps))}
	for i, s := range r.Steps {
		out.Steps[i] = WorkflowStep{Name: s.Name, State: string(s.State), Needs: s.Needs, Job: s.Job, Executor: s.Executor,
			Outputs: s.Outputs, Error: s.Error, Submitted: s.Submitted, Started: s.Started, Finished: s.Finished,
			InputBytes: s.InputBytes, FetchedBytes: s.FetchedBytes, Reused: s.Reused}
	}
	return out
}

// placeSteps fills in each partitioned step's tasks from its job record,
// as describeJob does for a partitioned job.
func placeSteps(run *WorkflowRun, jobs *market.JobStore) {
	for i := range run.Steps {
		st := &run.Steps[i]
		if st.Job == "" {
			continue
		}
		j, err := jobs.Get(st.Job)
		if err != nil || j.Partition == nil {
			continue
		}
		st.Partition = partitionOf(j.Partition)
		placeTasks(st.Partition, jobs)
	}
}

// maxWaitChange bounds GET /workflows/{id}?after=N.
const maxWaitChange = time.Minute

func (s *Server) workflowRoutes() {
	s.Handle("POST /workflows", s.submitWorkflow)
	s.Handle("GET /workflows", s.listWorkflows)
	s.Handle("GET /workflows/{id}", s.describeWorkflow)
	s.Handle("POST /workflows/{id}/cancel", s.cancelWorkflow)
}

// submitWorkflow takes {"block": ...} (application/json), a workflow file
// (application/yaml, or JSON with "steps"), or ?cid= for a workflow block
// the network holds.
func (s *Server) submitWorkflow(w http.ResponseWriter, r *http.Request) error {
	block, err := s.workflowBlock(r)
	if err != nil {
		return err
	}
	id, existing, err := s.n.Workflows.Start(r.Context(), block)
	if err != nil {
		return BadRequest("%v", err)
	}
	// The block also goes to the node's blockstore, so that other nodes
	// can run the same workflow by its CID.
	if b, err := blocks.NewBlockWithCid(block, id); err == nil {
		_ = s.n.Content.PutBlock(r.Context(), b)
	}
	run, err := s.n.Workflows.Get(id.String())
	if err != nil {
		return err
	}
	writeJSON(w, WorkflowSubmitResponse{ID: id.String(), Existing: existing, State: string(run.State)})
	return nil
}

func (s *Server) workflowBlock(r *http.Request) ([]byte, error) {
	if c := r.URL.Query().Get("cid"); c != "" {
		id, err := content.ParseCID(c)
		if err != nil {
			return nil, BadRequest("%v", err)
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		b, err := s.n.Content.GetBlock(ctx, id)
		if err != nil {
			return nil, Errorf(http.StatusNotFound, CodeNotFound, "workflow %s not found: %v", c, err)
		}
		return b.RawData(), nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2*workflow.MaxBlockSize+1))
	if err != nil {
		return nil, BadRequest("read workflow: %v", err)
	}
	if len(body) > 2*workflow.MaxBlockSize {
		return nil, BadRequest("workflow body larger than %d bytes", 2*workflow.MaxBlockSize)
	}
	var sub WorkflowSubmit
	if r.Header.Get("Content-Type") == mediaJSON && json.Unmarshal(body, &sub) == nil && len(sub.Block) > 0 {
		return sub.Block, nil
	}
	name := "workflow.yaml"
	if r.Header.Get("Content-Type") == mediaJSON {
		name = "workflow.json"
	}
	wf, err := workflow.Parse(body, name, jobspec.ParseOptions{})
	if err != nil {
		return nil, BadRequest("%v", err)
	}
	block, _, err := workflow.Encode(wf)
	if err != nil {
		return nil, BadRequest("%v", err)
	}
	return block, nil
}

func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request) error {
	runs := s.n.Workflows.List()
	out := make([]WorkflowRun, len(runs))
	for i, run := range runs {
		out[i] = workflowRunOf(run)
	}
	writeJSON(w, out)
	return nil
}

// describeWorkflow answers the run's record; with ?after=N it first waits
// (up to ?timeout, default and at most 1 m) until the record's version is
// above N or the run ended.
func (s *Server) describeWorkflow(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	run, err := s.n.Workflows.Get(id)
	if errors.Is(err, workflow.ErrNotFound) {
		return Errorf(http.StatusNotFound, CodeNotFound, "no workflow %s on this node (workflows are kept by the node that runs them: shoal workflow list)", id)
	}
	if err != nil {
		return err
	}
	if a := r.URL.Query().Get("after"); a != "" {
		after, err := strconv.ParseInt(a, 10, 64)
		if err != nil || after < 0 {
			return BadRequest("after=%q: want a record version (a number)", a)
		}
		timeout, err := queryDuration(r, "timeout", maxWaitChange)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), min(timeout, maxWaitChange))
		defer cancel()
		if got, err := s.n.Workflows.WaitChange(ctx, id, after); got != nil {
			run = got
		} else if err != nil {
			return err
		}
	}
	out := workflowRunOf(run)
	placeSteps(&out, s.n.Market.Jobs())
	writeJSON(w, out)
	return nil
}

func (s *Server) cancelWorkflow(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := s.n.Workflows.Cancel(r.Context(), id)
	switch {
	case errors.Is(err, workflow.ErrNotFound):
		return Errorf(http.StatusNotFound, CodeNotFound, "no workflow %s on this node", id)
	case err != nil:
		return Errorf(http.StatusConflict, CodeConflict, "%v", err)
	}
	run, err := s.n.Workflows.Get(id)
	if err != nil {
		return err
	}
	writeJSON(w, workflowRunOf(run))
	return nil
}

// SubmitWorkflow runs a workflow block.
func (c *Client) SubmitWorkflow(ctx context.Context, block []byte) (*WorkflowSubmitResponse, error) {
	var out WorkflowSubmitResponse
	return &out, c.JSON(ctx, http.MethodPost, "/workflows", nil, WorkflowSubmit{Block: block}, &out)
}

// SubmitWorkflowCID runs the workflow whose block has CID id.
func (c *Client) SubmitWorkflowCID(ctx context.Context, id string) (*WorkflowSubmitResponse, error) {
	var out WorkflowSubmitResponse
	q := map[string][]string{"cid": {id}}
	return &out, c.JSON(ctx, http.MethodPost, "/workflows", q, nil, &out)
}

// Workflows lists the workflows this node ran.
func (c *Client) Workflows(ctx context.Context) ([]WorkflowRun, error) {
	var out []WorkflowRun
	return out, c.GetJSON(ctx, "/workflows", nil, &out)
}

// Workflow describes one run; with after >= 0 it waits for a version above
// after (or the run's end, or about a minute).
func (c *Client) Workflow(ctx context.Context, id string, after int64) (*WorkflowRun, error) {
	var out WorkflowRun
	var q map[string][]string
	if after >= 0 {
		q = map[string][]string{"after": {strconv.FormatInt(after, 10)}}
	}
	return &out, c.GetJSON(ctx, "/workflows/"+id, q, &out)
}

// CancelWorkflow cancels a run.
func (c *Client) CancelWorkflow(ctx context.Context, id string) (*WorkflowRun, error) {
	var out WorkflowRun
	return &out, c.JSON(ctx, http.MethodPost, "/workflows/"+id+"/cancel", nil, nil, &out)
}
