package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/content"
)

// AddEvent is one line of the NDJSON stream of POST /add: progress lines
// carry Bytes; each added top-level entry gives a line with Name and CID.
type AddEvent struct {
	Bytes int64  `json:"bytes,omitempty"`
	Name  string `json:"name,omitempty"`
	CID   string `json:"cid,omitempty"`
	Error *Error `json:"error,omitempty"`
}

// FetchEvent is one line of the NDJSON stream of POST /fetch.
type FetchEvent struct {
	Bytes  int64  `json:"bytes"`
	Blocks int64  `json:"blocks"`
	Total  int64  `json:"total"`
	Done   bool   `json:"done,omitempty"`
	Error  *Error `json:"error,omitempty"`
}

// LsEntry is one entry of GET /ls.
type LsEntry struct {
	Name string `json:"name"`
	CID  string `json:"cid"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

// StatResponse is GET /stat.
type StatResponse struct {
	CID            string `json:"cid"`
	Type           string `json:"type"`
	Size           int64  `json:"size"`
	CumulativeSize int64  `json:"cumulative_size"`
	Blocks         int64  `json:"blocks"`
	LocalBytes     int64  `json:"local_bytes"`
	Local          bool   `json:"local"`
}

// PinEntry is one pin of GET /pin/ls.
type PinEntry struct {
	CID  string `json:"cid"`
	Type string `json:"type"` // recursive or direct
}

// GCResponse is POST /gc.
type GCResponse struct {
	Removed int `json:"removed"`
}

func (s *Server) contentRoutes() {
	s.Handle("POST /add", s.add)
	s.Handle("POST /fetch", s.fetch)
	s.Handle("GET /cat", s.cat)
	s.Handle("GET /get", s.get)
	s.Handle("GET /ls", s.ls)
	s.Handle("GET /stat", s.stat)
	s.Handle("POST /pin/add", s.pinAdd)
	s.Handle("POST /pin/rm", s.pinRm)
	s.Handle("GET /pin/ls", s.pinLs)
	s.Handle("POST /gc", s.gc)
}

// argCID parses the ?arg= CID of a request.
func argCID(r *http.Request) (cid.Cid, error) {
	a := r.URL.Query().Get("arg")
	if a == "" {
		return cid.Undef, BadRequest("missing ?arg=CID")
	}
	c, err := content.ParseCID(a)
	if err != nil {
		return cid.Undef, BadRequest("%v", err)
	}
	return c, nil
}

// contentError maps content errors to API errors with stable codes.
func contentError(err error) error {
	var np *content.NoProvidersError
	switch {
	case errors.As(err, &np):
		return Errorf(http.StatusNotFound, CodeNoProviders, "%s", np.Error())
	case errors.Is(err, content.ErrNotFound):
		return Errorf(http.StatusNotFound, CodeNotFound, "%v", err)
	case errors.Is(err, content.ErrNotFile):
		return BadRequest("%v", err)
	case errors.Is(err, content.ErrNotPinned):
		return Errorf(http.StatusNotFound, CodeNotFound, "%v", err)
	case errors.Is(err, content.ErrPinnedRecursively):
		return Errorf(http.StatusConflict, CodeConflict, "%v", err)
	case errors.Is(err, content.ErrTooLarge), errors.Is(err, content.ErrTooManyBlocks):
		return Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%v", err)
	case errors.Is(err, content.ErrTooDeep):
		return Errorf(http.StatusUnprocessableEntity, CodeTooDeep, "%v", err)
	case errors.Is(err, content.ErrBadName), errors.Is(err, content.ErrDuplicateName):
		return Errorf(http.StatusUnprocessableEntity, CodeUnsafeContent,
			"%v: refused, as it could write outside the target directory", err)
	}
	return err
}

// ndjson writes one JSON value per line and flushes.
type ndjson struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	enc *json.Encoder
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return &ndjson{w: w, enc: json.NewEncoder(w)}
}

func (n *ndjson) send(v any) {
	n.write(v)
	n.flush()
}

// write encodes v without flushing: a run of writes that ends in flush
// leaves as one chunk (one write on the connection, one wake-up of the
// reader) instead of one each.
func (n *ndjson) write(v any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	_ = n.enc.Encode(v)
}

func (n *ndjson) flush() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f, ok := n.w.(http.Flusher); ok {
		f.Flush()
	}
}

func apiErr(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
}

// add imports a multipart body (boxo's files format, as kubo's API) entry by
// entry, streaming: nothing is buffered whole. Query: cid-version,
// raw-leaves, chunker, max-links, pin (default true).
func (s *Server) add(w http.ResponseWriter, r *http.Request) error {
	opts, err := addOptions(r)
	if err != nil {
		return err
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "multipart/form-data" && mt != "multipart/mixed") {
		return BadRequest("add wants a multipart body (Content-Type %q)", r.Header.Get("Content-Type"))
	}
	dir, err := files.NewFileFromPartReader(multipart.NewReader(r.Body, params["boundary"]), mt)
	if err != nil {
		return BadRequest("read upload: %v", err)
	}
	// Progress lines go out while the upload still comes in.
	if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
		return err
	}
	out := newNDJSON(w)
	var (
		total    int64
		lastSent time.Time
	)
	it := dir.Entries()
	for it.Next() {
		base := total
		opts.Progress = func(b int64) {
			total = base + b
			if time.Since(lastSent) > 100*time.Millisecond {
				lastSent = time.Now()
				out.send(AddEvent{Bytes: total})
			}
		}
		c, err := s.n.Content.Add(r.Context(), it.Node(), opts)
		if err != nil {
			out.send(AddEvent{Error: apiErr(contentError(err))})
			return nil
		}
		out.send(AddEvent{Bytes: total, Name: it.Name(), CID: c.String()})
	}
	if err := it.Err(); err != nil {
		out.send(AddEvent{Error: BadRequest("read upload: %v", err)})
	}
	return nil
}

func addOptions(r *http.Request) (content.AddOptions, error) {
	q := r.URL.Query()
	var o content.AddOptions
	if v := q.Get("cid-version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || (n != 0 && n != 1) {
			return o, BadRequest("invalid cid-version %q: use 0 or 1", v)
		}
		o.CIDVersion = &n
	}
	if v := q.Get("raw-leaves"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, BadRequest("invalid raw-leaves %q: use true or false", v)
		}
		o.RawLeaves = &b
	}
	if v := q.Get("chunker"); v != "" {
		if _, err := content.ParseChunker(v); err != nil {
			return o, BadRequest("%v", err)
		}
		o.Chunker = v
	}
	if v := q.Get("max-links"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			return o, BadRequest("invalid max-links %q: want a number ≥ 2", v)
		}
		o.MaxLinks = n
	}
	o.Pin = true
	if v := q.Get("pin"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, BadRequest("invalid pin %q: use true or false", v)
		}
		o.Pin = b
	}
	return o, nil
}

// fetch makes a DAG local, streaming progress as NDJSON.
func (s *Server) fetch(w http.ResponseWriter, r *http.Request) error {
	c, err := argCID(r)
	if err != nil {
		return err
	}
	out := newNDJSON(w)
	var last time.Time
	err = s.n.Content.Fetch(r.Context(), c, content.FetchOptions{MaxBytes: s.n.Config().Jobs.OutputLimit(), MaxBytesName: "jobs.max_output_bytes", Progress: func(p content.Progress) {
		if time.Since(last) > 100*time.Millisecond {
			last = time.Now()
			out.send(FetchEvent{Bytes: p.Bytes, Blocks: p.Blocks, Total: p.Total})
		}
	}})
	if err != nil {
		out.send(FetchEvent{Error: apiErr(contentError(err))})
		return nil
	}
	st, err := s.n.Content.Stat(r.Context(), c)
	if err != nil {
		out.send(FetchEvent{Error: apiErr(contentError(err))})
		return nil
	}
	out.send(FetchEvent{Bytes: st.LocalBytes, Blocks: st.Blocks, Total: st.CumulativeSize, Done: true})
	return nil
}

func (s *Server) cat(w http.ResponseWriter, r *http.Request) error {
	c, err := argCID(r)
	if err != nil {
		return err
	}
	rd, err := s.n.Content.Cat(r.Context(), c)
	if err != nil {
		return contentError(err)
	}
	defer rd.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(rd.Size(), 10))
	_, _ = rd.WriteTo(w)
	return nil
}

// get streams the DAG as a tar archive whose single top-level entry is
// named by ?name= (default the CID). A DAG that cannot become files (see
// content.CheckTree) is refused with CodeUnsafeContent before the archive
// starts; should the stream fail later, the connection is aborted so that
// the client sees an error, never a shorter archive that looks complete.
func (s *Server) get(w http.ResponseWriter, r *http.Request) error {
	c, err := argCID(r)
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = c.String()
	}
	if err := content.CheckName(name); err != nil {
		return BadRequest("invalid ?name=: %v", err)
	}
	if err := s.n.Content.CheckTree(r.Context(), c); err != nil {
		return contentError(err)
	}
	nd, err := s.n.Content.Get(r.Context(), c)
	if err != nil {
		return contentError(err)
	}
	defer nd.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	tw, err := files.NewTarWriter(w)
	if err != nil {
		return err
	}
	if err := tw.WriteFile(nd, name); err != nil {
		// Headers are sent: abort the response (no final chunk), so the
		// client's read fails instead of ending at an entry boundary.
		log.Warn("get: archive interrupted", "cid", c, "err", err)
		panic(http.ErrAbortHandler)
	}
	return tw.Close()
}

func (s *Server) ls(w http.ResponseWriter, r *http.Request) error {
	c, err := argCID(r)
	if err != nil {
		return err
	}
	entries, err := s.n.Content.Ls(r.Context(), c)
	if err != nil {
		return contentError(err)
	}
	out := make([]LsEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, LsEntry{Name: e.Name, CID: e.CID.String(), Size: e.Size, Type: string(e.Type)})
	}
	writeJSON(w, out)
	return nil
}

func (s *Server) stat(w http.ResponseWriter, r *http.Request) error {
	c, err := argCID(r)
	if err != nil {
		return err
	}
	st, err := s.n.Content.Stat(r.Context(), c)
	if err != nil {
		return contentError(err)
	}
	writeJSON(w, StatResponse{CID: st.CID.String(), Type: string(st.Type), Size: st.Size, CumulativeSize: st.CumulativeSize,
		Blocks: st.Blocks, LocalBytes: st.LocalBytes, Local: st.Local})
	return nil
}

func (s *Server) pinAdd(w http.ResponseWriter, r *http.Request) error {
	c, err := argCID(r)
	if err != nil {
		return err
	}
	recursive := true
	if v := r.URL.Query().Get("recursive"); v != "" {
		if recursive, err = strconv.ParseBool(v); err != nil {
			return BadRequest("invalid recursive %q: use true or false", v)
		}
	}
	if recursive {
		// Pin would fetch what is missing without a bound: fetch first,
		// bounded like every fetch made for the API's user.
		if err := s.n.Content.Fetch(r.Context(), c, content.FetchOptions{MaxBytes: s.n.Config().Jobs.OutputLimit(), MaxBytesName: "jobs.max_output_bytes"}); err != nil {
			return contentError(err)
		}
	}
	if err := s.n.Content.Pin(r.Context(), c, recursive); err != nil {
		return contentError(err)
	}
	writeJSON(w, PinEntry{CID: c.String(), Type: pinType(recursive)})
	return nil
}

func (s *Server) pinRm(w http.ResponseWriter, r *http.Request) error {
	c, err := argCID(r)
	if err != nil {
		return err
	}
	if err := s.n.Content.Unpin(r.Context(), c); err != nil {
		return contentError(err)
	}
	writeJSON(w, PinEntry{CID: c.String()})
	return nil
}

func (s *Server) pinLs(w http.ResponseWriter, r *http.Request) error {
	pins, err := s.n.Content.Pins(r.Context())
	if err != nil {
		return err
	}
	out := make([]PinEntry, 0, len(pins))
	for _, p := range pins {
		out = append(out, PinEntry{CID: p.CID.String(), Type: pinType(p.Recursive)})
	}
	writeJSON(w, out)
	return nil
}

func (s *Server) gc(w http.ResponseWriter, r *http.Request) error {
	n, err := s.n.Content.GC(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, GCResponse{Removed: n})
	return nil
}

func pinType(recursive bool) string {
	if recursive {
		return "recursive"
	}
	return "direct"
}

// drain reads an NDJSON stream, calling fn for each value.
func drain[T any](r io.Reader, fn func(T) error) error {
	dec := json.NewDecoder(r)
	for {
		var v T
		if err := dec.Decode(&v); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read stream: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
}
