package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/shoalnet/shoal/content"
)

// mediaCAR is the media type of a CAR (IANA: application/vnd.ipld.car).
const mediaCAR = "application/vnd.ipld.car"

// CARImportResponse is POST /car: the roots of the imported CAR.
type CARImportResponse struct {
	Roots []string `json:"roots"`
}

func (s *Server) carRoutes() {
	s.Handle("GET /car", s.carExport)
	s.Handle("POST /car", s.carImport)
}

// carExport streams the DAG under ?arg= as a CARv1 (the DAG must be local:
// POST /fetch first). A DAG with a missing block is refused before the
// stream starts; should the stream fail later, the connection is aborted so
// that the client never takes a short CAR for a complete one.
func (s *Server) carExport(w http.ResponseWriter, r *http.Request) error {
	c, err := argCID(r)
	if err != nil {
		return err
	}
	st, err := s.n.Content.Stat(r.Context(), c)
	if err != nil {
		return contentError(err)
	}
	if !st.Local {
		return Errorf(http.StatusNotFound, CodeNotFound, "%s is not all local (%d blocks held): fetch it first (POST /fetch?arg=%s)", c, st.Blocks, c)
	}
	w.Header().Set("Content-Type", mediaCAR)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := s.n.Content.ExportCAR(r.Context(), c, w); err != nil {
		log.Warn("car: export interrupted", "cid", c, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// carImport stores the blocks of a CAR body (bounded by
// jobs.max_input_bytes) and pins its roots (?pin=false: not).
func (s *Server) carImport(w http.ResponseWriter, r *http.Request) error {
	pin := true
	if v := r.URL.Query().Get("pin"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return BadRequest("invalid pin %q: use true or false", v)
		}
		pin = b
	}
	roots, err := s.n.Content.ImportCAR(r.Context(), r.Body, content.CAROptions{
		MaxBytes: s.n.Config().Jobs.InputLimit(), MaxBytesName: "jobs.max_input_bytes", Pin: pin})
	if errors.Is(err, content.ErrBadCAR) {
		return Errorf(http.StatusUnprocessableEntity, CodeBadCAR, "%v", err)
	}
	if err != nil {
		return contentError(err)
	}
	out := CARImportResponse{Roots: make([]string, 0, len(roots))}
	for _, c := range roots {
		out.Roots = append(out.Roots, c.String())
	}
	writeJSON(w, out)
	return nil
}

// ExportCAR returns the DAG under cid as a CARv1 stream (the daemon must
// hold it all: Fetch first).
func (c *Client) ExportCAR(ctx context.Context, cid string) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/car", url.Values{"arg": {cid}}, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImportCAR sends a CAR to the daemon, which stores and (pin) pins it, and
// returns its roots.
func (c *Client) ImportCAR(ctx context.Context, car io.Reader, pin bool) ([]string, error) {
	resp, err := c.Do(ctx, http.MethodPost, "/car", url.Values{"pin": {strconv.FormatBool(pin)}}, car, mediaCAR)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out CARImportResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode /car response: %w", err)
	}
	return out.Roots, nil
}
