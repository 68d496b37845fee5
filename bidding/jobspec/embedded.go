package jobspec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// FromRef is an input written {from: REF, path: ...}: in a workflow step
// (package bidding/workflow), REF names another step, or a path inside its
// outputs ("count/table.txt"). ParseOptions.From gives the CID that stands
// for it until the step's inputs exist.
type FromRef struct {
	// Field is the input's field path: "steps[2].inputs[0]".
	Field string
	// From is the reference as written.
	From string
	// Line is the line of the value in the document.
	Line int
}

func (w *walker) fromRef(path string, n *docNode, dst *cid.Cid) {
	s, ok := w.scalar(path, n)
	if !ok {
		return
	}
	c, err := w.from(FromRef{Field: strings.TrimSuffix(path, ".from"), From: s, Line: n.line})
	if err != nil {
		w.fail(path, n.line, ErrInvalid, "%q: %v", s, err)
		return
	}
	*dst = c
}

// Embedded is a document holding a list of job specs beside a few scalar
// fields: a workflow file.
type Embedded struct {
	// Fields are the scalar top-level fields the document set.
	Fields map[string]string
	// Specs are the specs of the list, in document order, each normalized
	// and valid.
	Specs []*Spec
	// Lines are the lines where each spec starts.
	Lines []int
}

// ParseEmbedded reads a YAML or JSON document (format chosen as by Parse)
// whose root is a map of the scalar fields named in fields and of list, a
// list of at most max job specs. Each spec is read and validated as Parse
// does, with the same strictness; errors name the spec's place in the
// document ("steps[1].engine.wasm.module") and its line.
func ParseEmbedded(data []byte, filename, list string, fields []string, max int, opts ParseOptions) (*Embedded, error) {
	root, w, err := readDocument(data, filename, opts)
	if err != nil {
		return nil, err
	}
	out := &Embedded{Fields: map[string]string{}}
	var paths []string
	if root.kind != docMap {
		return nil, &FieldError{File: filename, Line: root.line, Err: fmt.Errorf("%w: the document is a map with %s, got %s", ErrInvalid, list, root.kind)}
	}
	handlers := map[string]func(string, *docNode){
		list: func(p string, v *docNode) {
			w.list(p, v, max, func(p string, it *docNode) {
				out.Specs = append(out.Specs, w.spec(p, it))
				out.Lines = append(out.Lines, it.line)
				paths = append(paths, p)
			})
		},
	}
	for _, f := range fields {
		handlers[f] = func(p string, v *docNode) {
			var s string
			w.str(p, v, &s)
			out.Fields[f] = s
		}
	}
	w.fields("", root, handlers)
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}
	var errs []error
	for i, s := range out.Specs {
		s.fillDefaults()
		if err := s.validate(); err != nil {
			for _, fe := range fieldErrors(err) {
				if fe.Path == "" {
					fe.Path = paths[i]
				} else {
					fe.Path = join(paths[i], fe.Path)
				}
				fe.File, fe.Line = filename, w.lineOf(fe.Path)
			}
			errs = append(errs, err)
			continue
		}
		s.sortSets()
		if _, _, err := Encode(s); err != nil {
			errs = append(errs, &FieldError{File: filename, Line: out.Lines[i], Path: paths[i], Err: err})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
