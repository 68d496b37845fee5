package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Stable error codes carried in API error bodies.
const (
	CodeBadRequest   = "bad_request"
	CodeNotFound     = "not_found"
	CodeUnauthorized = "unauthorized"
	CodeUnavailable  = "unavailable"
	CodeTimeout      = "timeout"
	CodeConflict     = "conflict"
	CodeInternal     = "internal"
	CodeNoProviders  = "no_providers"
	// CodeUnsafeContent: a DAG cannot become files (an entry name with "/",
	// "..", NUL or nothing, a name twice in one directory, a tree too deep).
	CodeUnsafeContent = "unsafe_content"
)

// Error is an API error: a stable code and a message for people.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 error.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, CodeBadRequest, format, args...)
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
