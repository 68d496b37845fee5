// Package workflow defines Shoal's workflows: a named DAG of job specs
// (steps) whose inputs may be other steps' outputs, the YAML/JSON file
// format, its validation (unknown references, cycles, duplicate names), its
// canonical dag-cbor encoding whose CID is the workflow ID, the pure
// planning of which steps run next, and the Runner that drives a workflow
// on its requester through small interfaces (Jobs, Resolver, Blocks) and
// keeps its record in a datastore so that a restarted requester resumes it.
//
// The package must not import node, p2p, content, exec or bidding/market:
// node wires the market and the content layer to its interfaces
// (node/workflow.go), so that the same code runs in unit tests.
package workflow

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Version is the only workflow format version this package reads and
// writes.
const Version = 1

// Limits of format version 1.
const (
	MaxSteps     = 256
	MaxStepName  = 64
	MaxBlockSize = 2 << 20 // encoded workflow block, bytes
)

// Sentinel errors; the errors returned by this package wrap them.
var (
	ErrInvalid      = errors.New("invalid workflow")
	ErrUnknownStep  = errors.New("unknown step")
	ErrCycle        = errors.New("cycle")
	ErrDuplicate    = errors.New("duplicate step name")
	ErrNonCanonical = errors.New("not in canonical form")
)

// Workflow is a named list of steps. Use Parse or Decode to obtain a valid
// one.
type Workflow struct {
	// Name is a label for humans; it changes the workflow ID.
	Name string
	// Steps in document order (the order of display; it changes the ID).
	Steps []Step
}

// Step is a job spec of which some inputs are other steps' outputs.
type Step struct {
	// Name identifies the step inside its workflow; it is also the name of
	// the step's job spec.
	Name string
	// Spec is the step's job spec without its From inputs.
	Spec *jobspec.Spec
	// From are the inputs that come from other steps, sorted by path.
	From []From
}

// From is an input mounted at Path whose content is the outputs of Step,
// or the entry at Sub inside them.
type From struct {
	Path string
	Step string
	// Sub is a slash-separated path inside the step's outputs ("" for the
	// whole outputs directory), without a leading slash.
	Sub string
}

// Ref is the reference as written in a file: "STEP" or "STEP/sub/path".
func (f From) Ref() string {
	if f.Sub == "" {
		return f.Step
	}
	return f.Step + "/" + f.Sub
}

// ParseRef splits a from reference into its step and sub path, refusing
// empty names, "." and ".." components.
func ParseRef(ref string) (step, sub string, err error) {
	step, sub, _ = strings.Cut(ref, "/")
	if err := checkStepName(step); err != nil {
		return "", "", err
	}
	sub = strings.TrimSuffix(sub, "/")
	if sub != "" {
		for _, c := range strings.Split(sub, "/") {
			if c == "" || c == "." || c == ".." {
				return "", "", fmt.Errorf("%w: %q: a path inside the step's outputs has no empty, . or .. components", ErrInvalid, ref)
			}
		}
		if len(sub) > jobspec.MaxPathLen {
			return "", "", fmt.Errorf("%w: path of %d bytes, limit %d", ErrInvalid, len(sub), jobspec.MaxPathLen)
		}
	}
	return step, sub, nil
}

// checkStepName says whether s can name a step: 1 to MaxStepName letters,
// digits, '.', '_' and '-', starting with a letter or digit.
func checkStepName(s string) error {
	ok := s != "" && len(s) <= MaxStepName
	for i, r := range s {
		alnum := r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
		if !alnum && (i == 0 || !strings.ContainsRune("._-", r)) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w: step name %q: 1 to %d letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, s, MaxStepName)
	}
	return nil
}

// placeholder is the CID that stands for a from input while the step's
// spec is parsed and validated; it never leaves this package.
func placeholder(field string) cid.Cid {
	sum := sha256.Sum256([]byte("shoal/workflow/from\x00" + field))
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
	return cid.NewCidV1(cid.Raw, mh)
}

// Parse reads a workflow file (YAML or JSON, chosen as jobspec.Parse
// does): `name`, optional `version: 1`, and `steps`, each a job spec with
// a `name`, whose inputs may be written {from: STEP[/sub/path], path: P}.
// opts.Local and opts.Import are used as jobspec.ParseWith uses them;
// opts.From is the package's own. Errors name the field and line, or the
// steps of an unknown reference or a cycle.
func Parse(data []byte, filename string, opts jobspec.ParseOptions) (*Workflow, error) {
	refs := map[cid.Cid]string{}
	opts.From = func(ref jobspec.FromRef) (cid.Cid, error) {
		if _, _, err := ParseRef(ref.From); err != nil {
			return cid.Undef, err
		}
		c := placeholder(ref.Field)
		refs[c] = ref.From
		return c, nil
	}
	doc, err := jobspec.ParseEmbedded(data, filename, "steps", []string{"name", "version"}, MaxSteps, opts)
	if err != nil {
		return nil, err
	}
	if v, ok := doc.Fields["version"]; ok && v != fmt.Sprint(Version) {
		return nil, fmt.Errorf("%s: version: %q; this build reads workflow version %d", filename, v, Version)
	}
	w := &Workflow{Name: doc.Fields["name"]}
	for _, s := range doc.Specs {
		st := Step{Name: s.Name, Spec: s}
		kept := s.Inputs[:0:0]
		for _, in := range s.Inputs {
			ref, ok := refs[in.CID]
			if !ok {
				kept = append(kept, in)
				continue
			}
			step, sub, _ := ParseRef(ref)
			st.From = append(st.From, From{Path: in.Path, Step: step, Sub: sub})
		}
		s.Inputs = kept
		if len(kept) == 0 {
			s.Inputs = nil
		}
		w.Steps = append(w.Steps, st)
	}
	if err := w.Validate(); err != nil {
		if filename != "" {
			return nil, fmt.Errorf("%s: %w", filename, err)
		}
		return nil, err
	}
	return w, nil
}

// Validate checks the workflow: a name, 1 to MaxSteps steps with valid,
// unique names, batch specs of count 1 (a step has one result), every
// from naming another step, and no cycle. Errors name the steps.
func (w *Workflow) Validate() error {
	var errs []error
	if w.Name == "" {
		errs = append(errs, fmt.Errorf("%w: name: required (a label for the workflow)", ErrInvalid))
	} else if len(w.Name) > jobspec.MaxNameLen || !utf8.ValidString(w.Name) || strings.ContainsFunc(w.Name, unicode.IsControl) {
		errs = append(errs, fmt.Errorf("%w: name %q: at most %d bytes of printable UTF-8", ErrInvalid, w.Name, jobspec.MaxNameLen))
	}
	if len(w.Steps) == 0 || len(w.Steps) > MaxSteps {
		errs = append(errs, fmt.Errorf("%w: steps: %d steps; a workflow has 1 to %d", ErrInvalid, len(w.Steps), MaxSteps))
	}
	index := map[string]int{}
	for i, s := range w.Steps {
		if err := checkStepName(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("steps[%d]: %w (every step needs a name: the others refer to it with from)", i, err))
			continue
		}
		if j, dup := index[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%w: steps[%d] and steps[%d] are both named %q", ErrDuplicate, j, i, s.Name))
			continue
		}
		index[s.Name] = i
		if s.Spec == nil {
			errs = append(errs, fmt.Errorf("%w: step %q has no job spec", ErrInvalid, s.Name))
			continue
		}
		if s.Spec.Name != s.Name {
			errs = append(errs, fmt.Errorf("%w: step %q: its spec is named %q; a step's spec bears the step's name", ErrInvalid, s.Name, s.Spec.Name))
		}
		if s.Spec.Type == jobspec.Ops || s.Spec.Count > 1 {
			errs = append(errs, fmt.Errorf("%w: step %q: a step is a batch job of count 1 (it has one result for the steps after it)", ErrInvalid, s.Name))
		}
		if err := stepSpec(s).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("step %q: %w", s.Name, err))
		}
		paths := map[string]bool{}
		for _, in := range s.Spec.Inputs {
			paths[in.Path] = true
		}
		for _, f := range s.From {
			if !strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) != f.Path {
				errs = append(errs, fmt.Errorf("%w: step %q: from %q: mount path %q is not a clean absolute path", ErrInvalid, s.Name, f.Ref(), f.Path))
			}
			if paths[f.Path] {
				errs = append(errs, fmt.Errorf("%w: step %q: two inputs are mounted at %s", ErrInvalid, s.Name, f.Path))
			}
			paths[f.Path] = true
			if _, _, err := ParseRef(f.Ref()); err != nil {
				errs = append(errs, fmt.Errorf("step %q: from: %w", s.Name, err))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, s := range w.Steps {
		for _, f := range s.From {
			if _, ok := index[f.Step]; !ok {
				errs = append(errs, fmt.Errorf("%w: step %q takes an input from %q, and no step has that name (steps: %s)", ErrUnknownStep, s.Name, f.Step, strings.Join(w.names(), ", ")))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c := w.cycle(); c != nil {
		return fmt.Errorf("%w: steps %s depend on each other; a workflow is a DAG", ErrCycle, strings.Join(c, " -> "))
	}
	return nil
}

// stepSpec is the spec Validate checks for step s: a partitioned step
// may split a from input, so its from inputs stand there as placeholders
// (their CIDs exist only once the steps they come from completed).
func stepSpec(s Step) *jobspec.Spec {
	if s.Spec.Partition == nil || len(s.From) == 0 {
		return s.Spec
	}
	v := s.Spec.Clone()
	for _, f := range s.From {
		v.Inputs = append(v.Inputs, jobspec.Input{CID: placeholder(f.Path), Path: f.Path})
	}
	v.Normalize()
	return v
}

func (w *Workflow) names() []string {
	out := make([]string, len(w.Steps))
	for i, s := range w.Steps {
		out[i] = s.Name
	}
	return out
}

// Index returns the index of the step named name, or -1.
func (w *Workflow) Index(name string) int {
	for i, s := range w.Steps {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// Needs returns the names of the steps that step i takes inputs from,
// sorted, without duplicates.
func (w *Workflow) Needs(i int) []string {
	var out []string
	for _, f := range w.Steps[i].From {
		if !slices.Contains(out, f.Step) {
			out = append(out, f.Step)
		}
	}
	sort.Strings(out)
	return out
}

// cycle returns the names of a cycle of steps ("a", "b", "a"), or nil.
func (w *Workflow) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(w.Steps))
	var stack []int
	var found []string
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, i)
		for _, dep := range w.Needs(i) {
			j := w.Index(dep)
			switch color[j] {
			case grey:
				k := slices.Index(stack, j)
				for _, x := range stack[k:] {
					found = append(found, w.Steps[x].Name)
				}
				found = append(found, w.Steps[j].Name)
				return true
			case white:
				if visit(j) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range w.Steps {
		if color[i] == white && visit(i) {
			return found
		}
	}
	return nil
}

// Concrete returns step i's job spec with its from inputs replaced by the
// CIDs in inputs (one per From path), normalized and valid: the spec the
// requester submits once the inputs exist. Its CID is the step's job ID,
// the same every time for the same inputs.
func (w *Workflow) Concrete(i int, inputs map[string]cid.Cid) (*jobspec.Spec, error) {
	st := w.Steps[i]
	s := st.Spec.Clone()
	for _, f := range st.From {
		c, ok := inputs[f.Path]
		if !ok || !c.Defined() {
			return nil, fmt.Errorf("step %q: input %s (from %s) has no CID yet", st.Name, f.Path, f.Ref())
		}
		s.Inputs = append(s.Inputs, jobspec.Input{CID: c, Path: f.Path})
	}
	s.Normalize()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("step %q: %w", st.Name, err)
	}
	return s, nil
}
