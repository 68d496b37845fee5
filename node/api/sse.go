package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// sse writes server-sent events: one JSON value per event's data line.
type sse struct {
	w http.ResponseWriter
}

func newSSE(w http.ResponseWriter) *sse { return &sse{w: w} }

func (s *sse) send(v any) {
	b, err := json.Marshal(v) // one line: JSON escapes newlines
	if err != nil {
		return
	}
	fmt.Fprintf(s.w, "data: %s\n\n", b)
	s.flush()
}

func (s *sse) comment(text string) {
	fmt.Fprintf(s.w, ": %s\n\n", strings.ReplaceAll(text, "\n", " "))
	s.flush()
}

func (s *sse) flush() {
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}
