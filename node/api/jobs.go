package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/content"
)

// maxSpecBody bounds a submitted spec document.
const maxSpecBody = jobspec.MaxDocumentSize

func (s *Server) jobRoutes() {
	s.Handle("POST /jobs", s.submit)
	s.Handle("GET /jobs", s.listJobs)
	s.Handle("GET /jobs/{id}", s.describeJob)
	s.Handle("GET /jobs/{id}/events", s.jobEvents)
	s.Handle("GET /jobs/{id}/logs", s.jobLogs)
	s.Handle("POST /jobs/{id}/cancel", s.cancelJob)
}

// submit takes a spec document (YAML or JSON) as the body, or ?cid= to run
// a spec block already in the network.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) error {
	var spec *jobspec.Spec
	if c := r.URL.Query().Get("cid"); c != "" {
		id, err := content.ParseCID(c)
		if err != nil {
			return BadRequest("%v", err)
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		b, err := s.n.Content.GetBlock(ctx, id)
		if err != nil {
			return Errorf(http.StatusNotFound, CodeNotFound, "job spec %s not found: %v", c, err)
		}
		if spec, err = jobspec.Decode(b.RawData()); err != nil {
			return BadRequest("%s is not a job spec: %v", c, err)
		}
	} else {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxSpecBody+1))
		if err != nil {
			return BadRequest("read spec: %v", err)
		}
		if len(body) > maxSpecBody {
			return BadRequest("spec larger than %d bytes", maxSpecBody)
		}
		name := "spec.yaml"
		if r.Header.Get("Content-Type") == "application/json" {
			name = "spec.json"
		}
		if spec, err = jobspec.Parse(body, name); err != nil {
			return BadRequest("%v", err)
		}
	}
	if err := s.checkLocalInputs(r.Context(), spec); err != nil {
		return err
	}
	var opts market.SubmitOptions
	switch v := r.URL.Query().Get("reuse"); v {
	case "":
	case string(jobspec.ReuseNever):
		opts.NoReuse = true
	default:
		return BadRequest("reuse=%q: the only value is never (the spec's reuse field says the rest)", v)
	}
	vals, err := secretsOf(r)
	if err != nil {
		return err
	}
	opts.Secrets = vals
	id, existing, err := s.n.SubmitJob(r.Context(), spec, opts)
	if errors.Is(err, jobspec.ErrInvalid) {
		return BadRequest("%v", err)
	}
	if err != nil {
		return err
	}
	j, err := s.n.Market.Jobs().Get(id.String())
	if err != nil {
		return err
	}
	writeJSON(w, SubmitResponse{ID: id.String(), Existing: existing, State: JobState(j.State)})
	return nil
}

// checkLocalInputs refuses at once a job whose input, held here, is a
// symlink: every executor refuses to materialize one (content
// ErrSymlinkRoot), so the job could only fail after its queue timeout.
// Inputs this node does not hold are left to the executors.
func (s *Server) checkLocalInputs(ctx context.Context, spec *jobspec.Spec) error {
	for _, in := range spec.Inputs {
		if in.Remote() {
			continue
		}
		typ, ok, err := s.n.Content.LocalType(ctx, in.CID)
		if err != nil || !ok {
			continue
		}
		if typ == content.TypeSymlink {
			return BadRequest("input %s at %s is a symlink; a job input must be a file or a directory: add the target itself (shoal add follows no symlink)", in.CID, in.Path)
		}
	}
	return nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, jobSummariesOf(s.n.Market.Jobs().List()))
	return nil
}

func (s *Server) job(r *http.Request) (*market.Job, error) {
	j, err := s.n.Market.Jobs().Get(r.PathValue("id"))
	if errors.Is(err, market.ErrJobNotFound) {
		return nil, Errorf(http.StatusNotFound, CodeNotFound, "no job %s on this node (jobs are kept by the node that submitted them)", r.PathValue("id"))
	}
	return j, err
}

func (s *Server) describeJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	resp := JobResponse{Job: *jobOf(j)}
	placeTasks(resp.Partition, s.n.Market.Jobs())
	if id, err := content.ParseCID(j.ID); err == nil {
		if b, err := s.n.Content.GetBlock(r.Context(), id); err == nil {
			if spec, err := jobspec.Decode(b.RawData()); err == nil {
				if y, err := spec.YAML(); err == nil {
					resp.Spec = string(y)
				}
				for _, in := range spec.Inputs {
					resp.Inputs = append(resp.Inputs, JobInput{CID: in.CID.String(), Path: in.Path})
				}
			}
		}
	}
	writeJSON(w, resp)
	return nil
}

// jobEvents streams the job's events as NDJSON: those recorded so far, then
// new ones as they happen, and the final record when the job ends.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	ch, j, cancel, err := s.n.Market.Jobs().Watch(r.PathValue("id"))
	if errors.Is(err, market.ErrJobNotFound) {
		return Errorf(http.StatusNotFound, CodeNotFound, "no job %s on this node", r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	defer cancel()
	out := newNDJSON(w)
	for _, e := range j.Events {
		x := eventOf(e)
		out.write(JobEvent{Event: &x})
	}
	out.flush()
	if !j.State.Terminal() {
		for {
			select {
			case <-r.Context().Done():
				return nil
			case e, ok := <-ch:
				if !ok {
					goto final
				}
				// The events already waiting go out with this one, in
				// one flush (an update often logs several at once).
				for ok {
					x := eventOf(e)
					out.write(JobEvent{Event: &x})
					select {
					case e, ok = <-ch:
						if !ok {
							out.flush()
							goto final
						}
					default:
						ok = false
					}
				}
				out.flush()
			}
		}
	}
final:
	final, err := s.n.Market.Jobs().Get(j.ID)
	if err != nil {
		return nil
	}
	if final.State.Terminal() {
		out.send(JobEvent{Final: jobOf(final)})
	}
	return nil
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	if err := s.n.CancelJob(r.Context(), j.ID); err != nil {
		return Errorf(http.StatusConflict, CodeConflict, "%v", err)
	}
	writeJSON(w, SubmitResponse{ID: j.ID, State: JobCancelled})
	return nil
}
