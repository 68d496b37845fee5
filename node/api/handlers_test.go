package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Handler tests serve each request through the Server itself (guard, mux,
// handler) with net/http/httptest, on a real in-memory node (apiNode).

// serve sends one request to s with the token and the API's own Host, and
// returns what s wrote. A body-carrying request gets ct as its type
// (application/json when empty).
func serve(t *testing.T, s *Server, method, path, ct string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://"+s.Addr().String()+Prefix+path, body)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if method != http.MethodGet {
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// get is serve of a GET.
func get(t *testing.T, s *Server, path string) *httptest.ResponseRecorder {
	t.Helper()
	return serve(t, s, http.MethodGet, path, "", nil)
}

// post is serve of a POST of body as ct.
func post(t *testing.T, s *Server, path, ct, body string) *httptest.ResponseRecorder {
	t.Helper()
	return serve(t, s, http.MethodPost, path, ct, strings.NewReader(body))
}

// wantOK fails unless rec is a 200 and decodes its JSON body into v (when
// v is not nil).
func wantOK(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("body is not a %T: %v\n%s", v, err, rec.Body)
	}
}

// wantError fails unless rec is an API error body with status and code
// whose message contains each of msg.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string, msg ...string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error with Content-Type %q, want application/json: %s", ct, rec.Body)
	}
	var e Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body is not an API error: %v\n%s", err, rec.Body)
	}
	if e.Code != code {
		t.Fatalf("code %q, want %q: %s", e.Code, code, e.Message)
	}
	for _, m := range msg {
		if !strings.Contains(e.Message, m) {
			t.Fatalf("message %q does not say %q", e.Message, m)
		}
	}
}

// ndjsonLines decodes an NDJSON body into values of T.
func ndjsonLines[T any](t *testing.T, rec *httptest.ResponseRecorder) []T {
	t.Helper()
	var out []T
	if err := drain(rec.Body, func(v T) error { out = append(out, v); return nil }); err != nil {
		t.Fatalf("NDJSON body: %v\n%s", err, rec.Body)
	}
	return out
}
