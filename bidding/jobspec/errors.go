package jobspec

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors; the errors returned by this package wrap them.
var (
	ErrSyntax       = errors.New("syntax error")
	ErrUnknownField = errors.New("unknown field")
	ErrRequired     = errors.New("required")
	ErrInvalid      = errors.New("invalid value")
	ErrTooLarge     = errors.New("too large")
	ErrNonCanonical = errors.New("not in canonical form")
	ErrVersion      = errors.New("unsupported spec version")
)

// FieldError says which field of a spec is wrong: its path
// ("engine.wasm.module", "inputs[1].path") and, when parsed from a
// document, the file and line.
type FieldError struct {
	File string
	Line int
	Path string
	Err  error
}

func (e *FieldError) Error() string {
	var s string
	switch {
	case e.File != "" && e.Line > 0:
		s = e.File + ":" + strconv.Itoa(e.Line) + ": "
	case e.File != "":
		s = e.File + ": "
	case e.Line > 0:
		s = "line " + strconv.Itoa(e.Line) + ": "
	}
	if e.Path != "" {
		s += e.Path + ": "
	}
	return s + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// errList collects field errors so a user sees all of them at once.
type errList struct {
	errs []error
}

// maxErrors caps how many problems one call reports.
const maxErrors = 20

func (l *errList) add(path string, err error) {
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, &FieldError{Path: path, Err: err})
	}
}

func (l *errList) addf(path string, sentinel error, format string, args ...any) {
	l.add(path, fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...))
}

func (l *errList) err() error {
	return errors.Join(l.errs...)
}

// fieldErrors returns every *FieldError in err (a joined error or a
// single one).
func fieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}
