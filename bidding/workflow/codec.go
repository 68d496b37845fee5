package workflow

import (
	"bytes"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/shoalnet/shoal/bidding/internal/dag"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Encode validates w and encodes it as a canonical dag-cbor block; the
// block's CID (CIDv1, dag-cbor, sha2-256) is the workflow ID. The block is
//
//	{version: 1, name: "...", steps: [{name, spec: <job spec block bytes>,
//	  from: [{path, step, sub?}]}]}
//
// with each step's spec (its from inputs left out) in its own canonical
// encoding (jobspec.Encode), and from sorted by path.
func Encode(w *Workflow) ([]byte, cid.Cid, error) {
	if err := w.Validate(); err != nil {
		return nil, cid.Undef, err
	}
	m := dag.NewMap()
	m.IntAlways("version", Version)
	m.Str("name", w.Name)
	steps := make([]*dag.Map, len(w.Steps))
	for i, s := range w.Steps {
		sm := dag.NewMap()
		sm.Str("name", s.Name)
		block, _, err := jobspec.Encode(s.Spec)
		if err != nil {
			return nil, cid.Undef, fmt.Errorf("step %q: %w", s.Name, err)
		}
		sm.Bytes("spec", block)
		from := sortedFrom(s.From)
		fm := make([]*dag.Map, len(from))
		for k, f := range from {
			x := dag.NewMap()
			x.Str("path", f.Path)
			x.Str("step", f.Step)
			x.Str("sub", f.Sub)
			fm[k] = x
		}
		sm.Maps("from", fm)
		steps[i] = sm
	}
	m.Maps("steps", steps)
	block, err := m.Encode()
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("encode workflow: %w", err)
	}
	if len(block) > MaxBlockSize {
		return nil, cid.Undef, fmt.Errorf("%w: workflow encodes to %d bytes, limit %d", jobspec.ErrTooLarge, len(block), MaxBlockSize)
	}
	return block, dag.CID(block), nil
}

// ID returns the workflow ID of w.
func ID(w *Workflow) (cid.Cid, error) {
	_, c, err := Encode(w)
	return c, err
}

// Decode reads a workflow block strictly: unknown fields, wrong kinds, an
// unsupported version, an invalid step spec or workflow, and any encoding
// other than Encode's are errors.
func Decode(block []byte) (*Workflow, error) {
	if len(block) > MaxBlockSize {
		return nil, fmt.Errorf("decode workflow: %w: block of %d bytes, limit %d", jobspec.ErrTooLarge, len(block), MaxBlockSize)
	}
	n, err := dag.Decode(block, MaxBlockSize)
	if err != nil {
		return nil, fmt.Errorf("decode workflow: %w", err)
	}
	r := dag.NewReader(n, "")
	if v := r.Int("version"); v != Version && !r.Failed() {
		return nil, fmt.Errorf("decode workflow: version %d; this build reads version %d", v, Version)
	}
	w := &Workflow{Name: r.Str("name")}
	r.List("steps", MaxSteps, func(p string, item datamodel.Node) {
		sr := r.Sub(p, item)
		st := Step{Name: sr.Str("name")}
		if b := sr.Bytes("spec"); !sr.Failed() {
			spec, err := jobspec.Decode(b)
			if err != nil {
				sr.Fail("spec", err)
			}
			st.Spec = spec
		}
		sr.List("from", jobspec.MaxInputs, func(p string, item datamodel.Node) {
			fr := sr.Sub(p, item)
			st.From = append(st.From, From{Path: fr.Str("path"), Step: fr.Str("step"), Sub: fr.Str("sub")})
			fr.Done()
		})
		sr.Done()
		w.Steps = append(w.Steps, st)
	})
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("decode workflow: %w", err)
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("decode workflow: %w", err)
	}
	again, _, err := Encode(w)
	if err != nil {
		return nil, fmt.Errorf("decode workflow: %w", err)
	}
	if !bytes.Equal(again, block) {
		return nil, fmt.Errorf("decode workflow: %w", ErrNonCanonical)
	}
	return w, nil
}

func sortedFrom(in []From) []From {
	out := append([]From(nil), in...)
	for i := 1; i < len(out); i++ {
		for k := i; k > 0 && out[k].Path < out[k-1].Path; k-- {
			out[k], out[k-1] = out[k-1], out[k]
		}
	}
	return out
}
