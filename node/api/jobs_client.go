package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// SubmitOptions change how a job is submitted, not the job.
type SubmitOptions struct {
	// NoReuse runs the job afresh: no receipt the network holds is
	// reused (?reuse=never).
	NoReuse bool
	// Secrets are the values of the spec's secrets (the Shoal-Secrets
	// header; nil: none).
	Secrets map[string]string
}

func (o SubmitOptions) query() url.Values {
	q := url.Values{}
	if o.NoReuse {
		q.Set("reuse", "never")
	}
	return q
}

// Submit sends a spec document (YAML or JSON).
func (c *Client) Submit(ctx context.Context, doc []byte, json bool) (*SubmitResponse, error) {
	return c.SubmitWith(ctx, doc, json, SubmitOptions{})
}

// SubmitWith sends a spec document (YAML or JSON) with options.
func (c *Client) SubmitWith(ctx context.Context, doc []byte, json bool, opts SubmitOptions) (*SubmitResponse, error) {
	ct := "application/yaml"
	if json {
		ct = "application/json"
	}
	return c.submit(ctx, opts.query(), strings.NewReader(string(doc)), ct, opts.Secrets)
}

// SubmitCID runs the job whose spec block has CID id.
func (c *Client) SubmitCID(ctx context.Context, id string) (*SubmitResponse, error) {
	return c.SubmitCIDWith(ctx, id, SubmitOptions{})
}

// SubmitCIDWith runs the job whose spec block has CID id, with options.
func (c *Client) SubmitCIDWith(ctx context.Context, id string, opts SubmitOptions) (*SubmitResponse, error) {
	q := opts.query()
	q.Set("cid", id)
	return c.submit(ctx, q, nil, "", opts.Secrets)
}

// Jobs lists the jobs this node submitted.
func (c *Client) Jobs(ctx context.Context) ([]JobSummary, error) {
	var r []JobSummary
	return r, c.GetJSON(ctx, "/jobs", nil, &r)
}

// Job describes one job.
func (c *Client) Job(ctx context.Context, id string) (*JobResponse, error) {
	var r JobResponse
	return &r, c.GetJSON(ctx, "/jobs/"+url.PathEscape(id), nil, &r)
}

// CancelJob cancels a job.
func (c *Client) CancelJob(ctx context.Context, id string) error {
	return c.JSON(ctx, http.MethodPost, "/jobs/"+url.PathEscape(id)+"/cancel", nil, nil, nil)
}

// Events streams a job's events to fn until the job ends (the final record
// is returned) or ctx ends.
func (c *Client) Events(ctx context.Context, id string, fn func(Event)) (*Job, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/events", nil, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var final *Job
	err = drain(resp.Body, func(e JobEvent) error {
		if e.Event != nil && fn != nil {
			fn(*e.Event)
		}
		if e.Final != nil {
			final = e.Final
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if final == nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return c.jobRecord(ctx, id)
	}
	return final, nil
}

func (c *Client) jobRecord(ctx context.Context, id string) (*Job, error) {
	r, err := c.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	return &r.Job, nil
}

// LogOptions select what Logs streams.
type LogOptions struct {
	// Follow streams new lines until the job ends.
	Follow bool
	// Stream is stdout (default), stderr or all.
	Stream string
}

// Logs streams a job's output lines to fn (see GET /jobs/{id}/logs) and
// returns the job's end when the stream told it (with Follow, or on a
// finished job), else nil.
func (c *Client) Logs(ctx context.Context, id string, opts LogOptions, fn func(LogLine)) (*LogEnd, error) {
	q := url.Values{}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Stream != "" {
		q.Set("stream", opts.Stream)
	}
	resp, err := c.Do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/logs", q, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var end *LogEnd
	err = drain(resp.Body, func(l JobLog) error {
		if l.Line != nil && fn != nil {
			fn(*l.Line)
		}
		if l.End != nil {
			end = l.End
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return end, ctx.Err()
	}
	return end, err
}
