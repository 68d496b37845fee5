package jobspec

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Parse reads a job spec from YAML or JSON and returns it normalized and
// validated. The format is JSON when filename ends in .json, YAML when it
// ends in .yaml or .yml, and otherwise JSON if the document starts with
// '{'. filename is used in error messages only and may be empty.
//
// Parsing is strict: an unknown field, a value of the wrong kind, a bad CID,
// duration or size, a missing engine, a duplicate key, YAML anchors, aliases
// and custom tags are all errors. Every problem is reported as a
// *FieldError naming the field path and line; several are joined.
func Parse(data []byte, filename string) (*Spec, error) {
	return ParseWith(data, filename, ParseOptions{})
}

// LocalRef is a field of a spec document that names a local file or
// directory where a CID is wanted: engine.wasm.module or
// engine.docker.image_cid written as a path ("./hello.wasm", "../x",
// "/abs"; see IsLocalPath), or an input's src.
type LocalRef struct {
	// Field is the field path: "engine.wasm.module", "inputs[1].src".
	Field string
	// Path is the path as written; a relative one is relative to the
	// directory of the spec file (the caller resolves it).
	Path string
	// Line is the line of the value in the document.
	Line int
}

// ParseOptions change how ParseWith reads a document.
type ParseOptions struct {
	// Local gives the CID of a local path the document names (see
	// LocalRef), e.g. by adding it to a node or hashing it. An error it
	// returns is reported as a field error of ref's field and line. When
	// Local is nil a local path is an error: a daemon takes only CIDs.
	Local func(ref LocalRef) (cid.Cid, error)
	// Import downloads and adds a url or s3 input marked `import:
	// requester` and gives its CID, which replaces the input's source in
	// the spec returned. When Import is nil such an input is an error.
	Import func(ref RemoteRef) (cid.Cid, error)
	// From gives the CID that stands for an input written {from: REF,
	// path: ...} instead of a CID: a workflow step's input naming another
	// step's outputs (see embedded.go). When From is nil such an input is
	// an error.
	From func(ref FromRef) (cid.Cid, error)
}

// IsLocalPath reports whether s, written where a CID is wanted, names a
// local file instead: it starts with "./", "../" or "/" (no CID does).
func IsLocalPath(s string) bool {
	return strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "/") || s == "." || s == ".."
}

// ParseWith is Parse with options: with opts.Local, a document may name
// local files where CIDs are wanted, and the spec returned holds their
// CIDs. Local is called once per such field, in document order, before
// the spec is validated.
func ParseWith(data []byte, filename string, opts ParseOptions) (*Spec, error) {
	root, w, err := readDocument(data, filename, opts)
	if err != nil {
		return nil, err
	}
	s := w.spec("", root)
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}
	s.fillDefaults()
	if err := s.validate(); err != nil {
		for _, fe := range fieldErrors(err) {
			fe.File, fe.Line = filename, w.lineOf(fe.Path)
		}
		return nil, err
	}
	s.sortSets()
	if _, _, err := Encode(s); err != nil {
		return nil, &FieldError{File: filename, Err: err}
	}
	return s, nil
}

// readDocument is the start of every parse: the size bound, a UTF-8 BOM
// dropped, YAML or JSON (as Parse chooses) read into a tree, and the
// walker of that tree.
func readDocument(data []byte, filename string, opts ParseOptions) (*docNode, *walker, error) {
	if len(data) > MaxDocumentSize {
		return nil, nil, &FieldError{File: filename, Err: fmt.Errorf("%w: document of %d bytes, limit %d", ErrTooLarge, len(data), MaxDocumentSize)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var (
		root *docNode
		err  error
	)
	if isJSON(data, filename) {
		root, err = parseJSON(data)
	} else {
		root, err = parseYAML(data)
	}
	if err != nil {
		return nil, nil, &FieldError{File: filename, Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
	}
	return root, &walker{file: filename, lines: map[string]int{"": root.line}, local: opts.Local, importer: opts.Import, from: opts.From}, nil
}

// walker turns a document tree into a Spec, recording the line of every
// path it visits.
type walker struct {
	file     string
	errs     []error
	lines    map[string]int
	local    func(LocalRef) (cid.Cid, error)
	importer func(RemoteRef) (cid.Cid, error)
	from     func(FromRef) (cid.Cid, error)
}

func (w *walker) fail(path string, line int, sentinel error, format string, args ...any) {
	if len(w.errs) < maxErrors {
		w.errs = append(w.errs, &FieldError{File: w.file, Line: line, Path: path,
			Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)})
	}
}

// lineOf returns the line of path or of its nearest recorded parent.
func (w *walker) lineOf(path string) int {
	for {
		if l, ok := w.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return w.lines[""]
		}
		path = path[:i]
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields walks a map, calling the handler of each known key; null values
// count as absent. Unknown keys are errors, with a suggestion when a known
// key is close.
func (w *walker) fields(path string, n *docNode, handlers map[string]func(path string, v *docNode)) {
	if n.kind == docNull {
		return
	}
	if n.kind != docMap {
		w.fail(path, n.line, ErrInvalid, "expected a map, got %s", n.kind)
		return
	}
	for i, k := range n.keys {
		p := join(path, k)
		h, ok := handlers[k]
		if !ok {
			known := make([]string, 0, len(handlers))
			for name := range handlers {
				known = append(known, name)
			}
			sort.Strings(known)
			hint := "known fields: " + strings.Join(known, ", ")
			if s := closest(k, known); s != "" {
				hint = "did you mean " + strconv.Quote(s) + "?"
			}
			w.fail(p, n.keyLines[i], ErrUnknownField, "%s", hint)
			continue
		}
		w.lines[p] = n.keyLines[i]
		if n.vals[i].kind != docNull {
			h(p, n.vals[i])
		}
	}
}

func (w *walker) scalar(path string, n *docNode) (string, bool) {
	if n.kind != docScalar {
		w.fail(path, n.line, ErrInvalid, "expected a single value, got %s", n.kind)
		return "", false
	}
	return n.text, true
}

func (w *walker) str(path string, n *docNode, dst *string) {
	if s, ok := w.scalar(path, n); ok {
		*dst = s
	}
}

func (w *walker) integer(path string, n *docNode, dst *int) {
	s, ok := w.scalar(path, n)
	if !ok {
		return
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		w.fail(path, n.line, ErrInvalid, "%q: expected a whole number", s)
		return
	}
	*dst = v
}

// boolean reads true or false; it reports whether it read one.
func (w *walker) boolean(path string, n *docNode, dst *bool) bool {
	s, ok := w.scalar(path, n)
	if !ok {
		return false
	}
	switch s {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		w.fail(path, n.line, ErrInvalid, "%q: expected true or false", s)
		return false
	}
	return true
}

func (w *walker) cid(path string, n *docNode, dst *cid.Cid) {
	s, ok := w.scalar(path, n)
	if !ok {
		return
	}
	if IsLocalPath(s) {
		w.localPath(path, n, s, dst)
		return
	}
	c, err := cid.Decode(s)
	if err != nil {
		w.fail(path, n.line, ErrInvalid, "%q is not a CID (%v), nor a local path (those start with ./, ../ or /)", s, err)
		return
	}
	*dst = c
}

// localPath resolves the local path s of the field path through w.local.
func (w *walker) localPath(path string, n *docNode, s string, dst *cid.Cid) {
	if w.local == nil {
		w.fail(path, n.line, ErrInvalid, "%q is a local path: `shoal job run` adds it and submits its CID, but a daemon takes only CIDs (shoal add prints one)", s)
		return
	}
	c, err := w.local(LocalRef{Field: path, Path: s, Line: n.line})
	if err != nil {
		w.fail(path, n.line, ErrInvalid, "%s: %v", s, err)
		return
	}
	*dst = c
}

func (w *walker) list(path string, n *docNode, max int, each func(path string, item *docNode)) {
	if n.kind != docList {
		w.fail(path, n.line, ErrInvalid, "expected a list, got %s", n.kind)
		return
	}
	if len(n.items) > max {
		w.fail(path, n.line, ErrTooLarge, "%d items, limit %d", len(n.items), max)
		return
	}
	for i, it := range n.items {
		p := fmt.Sprintf("%s[%d]", path, i)
		w.lines[p] = it.line
		each(p, it)
	}
}

func (w *walker) strs(path string, n *docNode, max int, dst *[]string) {
	var out []string
	w.list(path, n, max, func(p string, it *docNode) {
		if s, ok := w.scalar(p, it); ok {
			out = append(out, s)
		}
	})
	*dst = out
}

func (w *walker) strMap(path string, n *docNode, max int, dst *map[string]string) {
	if n.kind != docMap {
		w.fail(path, n.line, ErrInvalid, "expected a map, got %s", n.kind)
		return
	}
	if len(n.keys) > max {
		w.fail(path, n.line, ErrTooLarge, "%d entries, limit %d", len(n.keys), max)
		return
	}
	out := make(map[string]string, len(n.keys))
	for i, k := range n.keys {
		p := join(path, k)
		w.lines[p] = n.keyLines[i]
		if s, ok := w.scalar(p, n.vals[i]); ok {
			out[k] = s
		}
	}
	*dst = out
}

func (w *walker) spec(path string, root *docNode) *Spec {
	s := &Spec{}
	if root.kind != docMap {
		w.fail(path, root.line, ErrInvalid, "a job spec is a map of fields, got %s", root.kind)
		return s
	}
	w.fields(path, root, map[string]func(string, *docNode){
		"version": func(p string, v *docNode) {
			var ver int
			w.integer(p, v, &ver)
			if ver != Version && len(w.errs) == 0 {
				w.fail(p, v.line, ErrVersion, "%d; this build reads version %d", ver, Version)
			}
		},
		"name":  func(p string, v *docNode) { w.str(p, v, &s.Name) },
		"type":  func(p string, v *docNode) { w.str(p, v, (*string)(&s.Type)) },
		"count": func(p string, v *docNode) { w.integer(p, v, &s.Count) },
		"engine": func(p string, v *docNode) {
			w.fields(p, v, map[string]func(string, *docNode){
				"wasm":   func(p string, v *docNode) { s.Engine.Wasm = w.wasm(p, v) },
				"docker": func(p string, v *docNode) { s.Engine.Docker = w.docker(p, v) },
			})
		},
		"inputs": func(p string, v *docNode) {
			w.list(p, v, MaxInputs, func(p string, it *docNode) {
				var in Input
				var byCID, bySrc, byFrom bool
				handlers := map[string]func(string, *docNode){
					"cid": func(p string, v *docNode) {
						if byCID = true; bySrc || byFrom {
							w.fail(p, v.line, ErrInvalid, "give cid or src (or from, in a workflow step), not both")
							return
						}
						w.cid(p, v, &in.CID)
					},
					"src": func(p string, v *docNode) {
						if bySrc = true; byCID || byFrom {
							w.fail(p, v.line, ErrInvalid, "give cid or src (or from, in a workflow step), not both")
							return
						}
						switch s, ok := w.scalar(p, v); {
						case ok && s == "":
							w.fail(p, v.line, ErrInvalid, "an empty path; src is a local file or directory, relative to the spec file")
						case ok:
							w.localPath(p, v, s, &in.CID)
						}
					},
					"path": func(p string, v *docNode) { w.str(p, v, &in.Path) },
				}
				if w.from != nil {
					handlers["from"] = func(p string, v *docNode) {
						if byFrom = true; byCID || bySrc {
							w.fail(p, v.line, ErrInvalid, "give from or cid or src, not both")
							return
						}
						w.fromRef(p, v, &in.CID)
					}
				}
				finish := w.remoteInputFields(&in, handlers)
				w.fields(p, it, handlers)
				finish(p, it.line)
				if it.kind == docNull {
					w.fail(p, it.line, ErrRequired, "an input is a map with cid (or src, a local path) and path")
				}
				s.Inputs = append(s.Inputs, in)
			})
		},
		"outputs": func(p string, v *docNode) { w.strs(p, v, MaxOutputs, &s.Outputs) },
		"secrets": func(p string, v *docNode) { w.strs(p, v, MaxSecrets, &s.Secrets) },
		"resources": func(p string, v *docNode) {
			w.fields(p, v, map[string]func(string, *docNode){
				"cpu": func(p string, v *docNode) {
					if t, ok := w.scalar(p, v); ok {
						m, err := ParseCPU(t)
						if err != nil {
							w.fail(p, v.line, ErrInvalid, "%v", err)
						}
						s.Resources.MilliCPU = m
						if m == 0 && err == nil {
							w.fail(p, v.line, ErrInvalid, "must be more than 0 (omit it for the default of %s)", FormatCPU(DefaultMilliCPU))
						}
					}
				},
				"memory": func(p string, v *docNode) { w.size(p, v, &s.Resources.Memory, DefaultMemory) },
				"disk":   func(p string, v *docNode) { w.size(p, v, &s.Resources.Disk, DefaultDisk) },
			})
		},
		"reuse":         func(p string, v *docNode) { w.str(p, v, (*string)(&s.Reuse)) },
		"verify":        func(p string, v *docNode) { s.Verify = w.verify(p, v) },
		"publish":       func(p string, v *docNode) { w.publishList(p, v, s) },
		"partition":     func(p string, v *docNode) { s.Partition = w.partition(p, v) },
		"timeout":       func(p string, v *docNode) { w.duration(p, v, &s.Timeout) },
		"queue_timeout": func(p string, v *docNode) { w.duration(p, v, &s.QueueTimeout) },
		"constraints": func(p string, v *docNode) {
			c := &s.Constraints
			w.fields(p, v, map[string]func(string, *docNode){
				"labels":   func(p string, v *docNode) { w.strMap(p, v, MaxLabels, &c.Labels) },
				"locality": func(p string, v *docNode) { w.str(p, v, (*string)(&c.Locality)) },
				"executors": func(p string, v *docNode) {
					w.fields(p, v, map[string]func(string, *docNode){
						"orgs": func(p string, v *docNode) { w.strs(p, v, MaxOrgs, &c.Executors.Orgs) },
						"peers": func(p string, v *docNode) {
							w.list(p, v, MaxPeers, func(p string, it *docNode) {
								t, ok := w.scalar(p, it)
								if !ok {
									return
								}
								id, err := peer.Decode(t)
								if err != nil {
									w.fail(p, it.line, ErrInvalid, "%q is not a peer ID (%v)", t, err)
									return
								}
								c.Executors.Peers = append(c.Executors.Peers, id)
							})
						},
					})
				},
			})
		},
	})
	return s
}

func (w *walker) verify(path string, n *docNode) *Verify {
	v := &Verify{}
	var replicas bool
	w.fields(path, n, map[string]func(string, *docNode){
		"replicas": func(p string, x *docNode) {
			replicas = true
			w.integer(p, x, &v.Replicas)
		},
		"quorum": func(p string, x *docNode) {
			w.integer(p, x, &v.Quorum)
			if v.Quorum == 0 && len(w.errs) == 0 {
				w.fail(p, x.line, ErrInvalid, "0: omit quorum for the default (a majority of replicas)")
			}
		},
		"distinct": func(p string, x *docNode) { w.str(p, x, (*string)(&v.Distinct)) },
	})
	if !replicas && len(w.errs) == 0 {
		w.fail(path+".replicas", n.line, ErrRequired, "how many distinct executors run the job, such as verify: {replicas: 3}")
	}
	return v
}

func (w *walker) wasm(path string, n *docNode) *Wasm {
	e := &Wasm{}
	w.fields(path, n, map[string]func(string, *docNode){
		"module":     func(p string, v *docNode) { w.cid(p, v, &e.Module) },
		"entrypoint": func(p string, v *docNode) { w.str(p, v, &e.Entrypoint) },
		"args":       func(p string, v *docNode) { w.strs(p, v, MaxArgs, &e.Args) },
		"env":        func(p string, v *docNode) { w.strMap(p, v, MaxEnv, &e.Env) },
		"deterministic": func(p string, v *docNode) {
			var b bool
			if w.boolean(p, v, &b) {
				e.Deterministic = &b
			}
		},
	})
	return e
}

func (w *walker) docker(path string, n *docNode) *Docker {
	e := &Docker{}
	w.fields(path, n, map[string]func(string, *docNode){
		"image":     func(p string, v *docNode) { w.str(p, v, &e.Image) },
		"image_cid": func(p string, v *docNode) { w.cid(p, v, &e.ImageCID) },
		"entrypoint": func(p string, v *docNode) {
			if v.kind == docScalar {
				w.fail(p, v.line, ErrInvalid, "expected a list such as [\"/bin/sh\", \"-c\"]; a single string is not split into words")
				return
			}
			w.strs(p, v, MaxArgs, &e.Entrypoint)
		},
		"args":          func(p string, v *docNode) { w.strs(p, v, MaxArgs, &e.Args) },
		"env":           func(p string, v *docNode) { w.strMap(p, v, MaxEnv, &e.Env) },
		"deterministic": func(p string, v *docNode) { w.boolean(p, v, &e.Deterministic) },
	})
	return e
}

func (w *walker) size(path string, n *docNode, dst *int64, def int64) {
	t, ok := w.scalar(path, n)
	if !ok {
		return
	}
	v, err := ParseSize(t)
	if err != nil {
		w.fail(path, n.line, ErrInvalid, "%v", err)
		return
	}
	if v == 0 {
		w.fail(path, n.line, ErrInvalid, "must be more than 0 (omit it for the default of %s)", FormatSize(def))
		return
	}
	*dst = v
}

func (w *walker) duration(path string, n *docNode, dst *time.Duration) {
	t, ok := w.scalar(path, n)
	if !ok {
		return
	}
	d, err := ParseDuration(t)
	if err != nil {
		w.fail(path, n.line, ErrInvalid, "%v", err)
		return
	}
	if d <= 0 {
		w.fail(path, n.line, ErrInvalid, "%s: must be more than 0", t)
		return
	}
	*dst = d
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
