package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Stable error codes carried in API error bodies.
const (
	CodeBadRequest = "bad_request"
	CodeNotFound   = "not_found"
	// CodeMethodNotAllowed: the path is an endpoint, the method is not
	// one it takes (the Allow header lists those).
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnauthorized     = "unauthorized"
	// CodeForbidden: a Host or Origin that is not this API's (web pages).
	CodeForbidden = "forbidden"
	// CodeUnsupportedMediaType: a mutating call with a type pages can send.
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeUnavailable          = "unavailable"
	CodeTimeout              = "timeout"
	CodeConflict             = "conflict"
	CodeInternal             = "internal"
	CodeNoProviders          = "no_providers"
	// CodeTooLarge: content over a byte or block bound (jobs.max_output_bytes
	// for a fetch, or a block over 2 MiB, or a DAG of too many blocks).
	CodeTooLarge = "too_large"
	// CodeTooDeep: a DAG deeper than the node walks.
	CodeTooDeep = "too_deep"
	// CodeUnsafeContent: a DAG cannot become files (an entry name with "/",
	// "..", NUL or nothing, a name twice in one directory).
	CodeUnsafeContent = "unsafe_content"
	// CodeBadCAR: a CAR that is malformed, names no root or too many,
	// holds a block that does not match its CID, or misses blocks of a
	// root's DAG.
	CodeBadCAR = "bad_car"
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
