package jobspec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

const (
	cidModule = "bafkreieyqdmkm4xdorztla7zvuhreacuyisz7tesvfccwniyrrdeiuicya"
	cidInput  = "bafkreiag5ijdjadfh2jpuwv74ssujlliubradhlicoc3g27llyuxcoxjwu"
	cidOther  = "bafkreieptphnsbsubak6e3qofj7rppi2i5jzxkp5mt76q5frd3n3svjkka"
	// cidV0 is a dag-pb CIDv0; specs store it as CIDv1.
	cidV0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
	peerA = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
)

func mustParse(t *testing.T, doc, name string) *Spec {
	t.Helper()
	s, err := Parse([]byte(doc), name)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/jobs/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// Local paths must name files of the repository, or modules
			// `make examples` builds (examples/X/X.wasm from examples/X).
			s, err := ParseWith(data, f, ParseOptions{Local: func(r LocalRef) (cid.Cid, error) {
				p := filepath.Join(filepath.Dir(f), r.Path)
				if _, err := os.Stat(p); err == nil {
					return pathCID(t, p), nil
				}
				dir := filepath.Dir(p)
				if filepath.Base(p) == filepath.Base(dir)+".wasm" {
					if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
						return pathCID(t, p), nil
					}
				}
				return cid.Undef, errors.New("not in the repository, nor built by make examples")
			}})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := Encode(s); err != nil {
				t.Fatalf("Encode: %v", err)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	s := mustParse(t, "engine: {wasm: {module: "+cidModule+"}}\n", "min.yaml")
	want := &Spec{
		Type:         Batch,
		Count:        1,
		Engine:       Engine{Wasm: &Wasm{Module: cid.MustParse(cidModule), Entrypoint: "_start"}},
		Outputs:      []string{"/outputs"},
		Resources:    Resources{MilliCPU: 1000, Memory: 256 << 20, Disk: 1 << 30},
		Timeout:      10 * time.Minute,
		QueueTimeout: 5 * time.Minute,
		Constraints:  Constraints{Locality: Preferred},
		Reuse:        ReuseTrusted,
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
}

// TestSameJobSameID checks that documents meaning the same job get the same
// job ID whatever their format, order, defaults and CID versions.
func TestSameJobSameID(t *testing.T) {
	docs := map[string]string{
		"minimal.yaml": `
engine:
  wasm:
    module: ` + cidModule + `
inputs:
  - {cid: ` + cidOther + `, path: /b}
  - {cid: ` + cidV0 + `, path: /a}
constraints:
  executors: {orgs: [zeta, acme]}
`,
		"explicit.yaml": `
version: 1
type: batch
count: 1
engine:
  wasm:
    module: ` + cidModule + `
    entrypoint: _start
    args: []
    env: {}
inputs:
  - path: /a
    cid: bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354
  - {cid: ` + cidOther + `, path: /b}
outputs: [/outputs]
resources: {cpu: "1000m", memory: 256Mi, disk: 1073741824}
timeout: 600s
queue_timeout: 5m0s
constraints:
  locality: preferred
  labels: {}
  executors: {orgs: [acme, zeta], peers: []}
`,
		"spec.json": `{
  "engine": {"wasm": {"module": "` + cidModule + `", "args": null}},
  "inputs": [{"path": "/b", "cid": "` + cidOther + `"}, {"cid": "` + cidV0 + `", "path": "/a"}],
  "resources": {"cpu": 1, "memory": "268435456"},
  "constraints": {"executors": {"orgs": ["zeta", "acme"]}}
}`,
	}
	var first cid.Cid
	for name, doc := range docs {
		s := mustParse(t, doc, name)
		_, id, err := Encode(s)
		if err != nil {
			t.Fatalf("%s: Encode: %v", name, err)
		}
		if !first.Defined() {
			first = id
		} else if id != first {
			t.Errorf("%s: job ID %s, want %s", name, id, first)
		}
	}
}

func TestParseErrors(t *testing.T) {
	wasm := "engine:\n  wasm:\n    module: " + cidModule + "\n"
	tests := []struct {
		name, file, doc string
		wantErr         error
		wantPath        string
		wantLine        int
		wantText        string
	}{
		{"unknown top field", "a.yaml", wasm + "timout: 5m\n", ErrUnknownField, "timout", 4, `did you mean "timeout"`},
		{"unknown nested field", "a.yaml", "engine:\n  wasm:\n    module: " + cidModule + "\n    argv: [x]\n", ErrUnknownField, "engine.wasm.argv", 4, "did you mean"},
		{"bad CID", "a.yaml", "engine:\n  wasm:\n    module: bafyfoo\n", ErrInvalid, "engine.wasm.module", 3, "not a CID"},
		{"missing engine", "a.yaml", "name: x\n", ErrRequired, "engine", 0, "engine.wasm or engine.docker"},
		{"empty wasm", "a.yaml", "engine:\n  wasm: {}\n", ErrRequired, "engine.wasm.module", 2, ""},
		{"two engines", "a.yaml", wasm + "  docker: {image: alpine}\n", ErrInvalid, "engine", 1, "only one"},
		{"docker without image", "a.yaml", "engine:\n  docker:\n    args: [x]\n", ErrRequired, "engine.docker.image", 2, ""},
		{"docker both images", "a.yaml", "engine:\n  docker:\n    image: alpine\n    image_cid: " + cidOther + "\n", ErrInvalid, "engine.docker.image", 3, "only one"},
		{"docker entrypoint string", "a.yaml", "engine:\n  docker:\n    image: alpine\n    entrypoint: /bin/sh -c\n", ErrInvalid, "engine.docker.entrypoint", 4, "list"},
		{"bad reuse", "a.yaml", wasm + "reuse: sometimes\n", ErrInvalid, "reuse", 0, "trusted or never"},
		{"bad deterministic", "a.yaml", wasm + "    deterministic: yes\n", ErrInvalid, "engine.wasm.deterministic", 4, "true or false"},
		{"bad duration", "a.yaml", wasm + "timeout: 10 minutes\n", ErrInvalid, "timeout", 4, "Go duration"},
		{"bare number duration", "a.yaml", wasm + "timeout: 30\n", ErrInvalid, "timeout", 4, "no unit"},
		{"negative duration", "a.yaml", wasm + "queue_timeout: -1s\n", ErrInvalid, "queue_timeout", 4, ""},
		{"sub-millisecond", "a.yaml", wasm + "timeout: 1500us\n", ErrInvalid, "timeout", 4, "milliseconds"},
		{"too long", "a.yaml", wasm + "timeout: 200h\n", ErrInvalid, "timeout", 4, ""},
		{"bad size", "a.yaml", wasm + "resources:\n  memory: 12 parsecs\n", ErrInvalid, "resources.memory", 5, "unknown unit"},
		{"fractional bytes", "a.yaml", wasm + "resources:\n  disk: 1.5B\n", ErrInvalid, "resources.disk", 5, "whole"},
		{"tiny memory", "a.yaml", wasm + "resources:\n  memory: 1KiB\n", ErrInvalid, "resources.memory", 5, ""},
		{"bad cpu", "a.yaml", wasm + "resources:\n  cpu: lots\n", ErrInvalid, "resources.cpu", 5, "cores"},
		{"zero cpu", "a.yaml", wasm + "resources:\n  cpu: 0\n", ErrInvalid, "resources.cpu", 5, "more than 0"},
		{"bad type", "a.yaml", wasm + "type: service\n", ErrInvalid, "type", 4, "batch or ops"},
		{"count zero batch ok but negative not", "a.yaml", wasm + "count: -2\n", ErrInvalid, "count", 4, ""},
		{"count not int", "a.yaml", wasm + "count: 1.5\n", ErrInvalid, "count", 4, "whole number"},
		{"relative input", "a.yaml", wasm + "inputs:\n  - cid: " + cidInput + "\n    path: data\n", ErrInvalid, "inputs[0].path", 6, "relative"},
		{"root input", "a.yaml", wasm + "inputs:\n  - cid: " + cidInput + "\n    path: /\n", ErrInvalid, "inputs[0].path", 6, `"/"`},
		{"unclean input", "a.yaml", wasm + "inputs:\n  - cid: " + cidInput + "\n    path: /a/../b\n", ErrInvalid, "inputs[0].path", 6, "not clean"},
		{"duplicate input path", "a.yaml", wasm + "inputs:\n  - {cid: " + cidInput + ", path: /d}\n  - {cid: " + cidOther + ", path: /d}\n", ErrInvalid, "inputs[1].path", 6, "also used"},
		{"nested input path", "a.yaml", wasm + "inputs:\n  - {cid: " + cidInput + ", path: /d/e}\n  - {cid: " + cidOther + ", path: /d}\n", ErrInvalid, "inputs[1].path", 6, "nest"},
		{"output over input", "a.yaml", wasm + "inputs:\n  - {cid: " + cidInput + ", path: /outputs/in}\n", ErrInvalid, "outputs[0]", 0, "nest"},
		{"input without cid", "a.yaml", wasm + "inputs:\n  - path: /d\n", ErrRequired, "inputs[0].cid", 5, ""},
		{"bad locality", "a.yaml", wasm + "constraints:\n  locality: nearby\n", ErrInvalid, "constraints.locality", 5, "required, preferred or anywhere"},
		{"bad peer", "a.yaml", wasm + "constraints:\n  executors:\n    peers: [nobody]\n", ErrInvalid, "constraints.executors.peers[0]", 6, "peer ID"},
		{"duplicate peer", "a.yaml", wasm + "constraints:\n  executors:\n    peers: [" + peerA + ", " + peerA + "]\n", ErrInvalid, "constraints.executors.peers[1]", 6, "twice"},
		{"bad label", "a.yaml", wasm + "constraints:\n  labels: {\"-x\": y}\n", ErrInvalid, "constraints.labels", 5, "label"},
		{"env with =", "a.yaml", "engine:\n  wasm:\n    module: " + cidModule + "\n    env: {\"A=B\": c}\n", ErrInvalid, "engine.wasm.env", 4, "variable name"},
		{"version 2", "a.yaml", "version: 2\n" + wasm, ErrVersion, "version", 1, ""},
		{"engine is a list", "a.yaml", "engine: [wasm]\n", ErrInvalid, "engine", 1, "expected a map"},
		{"spec is a list", "a.yaml", "- a\n", ErrInvalid, "", 1, "map of fields"},
		{"duplicate key", "a.yaml", wasm + "name: a\nname: b\n", ErrSyntax, "", 0, "already defined on line 4"},
		{"two documents", "a.yaml", wasm + "---\nname: b\n", ErrSyntax, "", 0, "one YAML document"},
		{"alias", "a.yaml", "name: &n x\n" + wasm, ErrSyntax, "", 0, "anchors"},
		{"yaml syntax", "a.yaml", "engine: [\n", ErrSyntax, "", 0, ""},
		{"empty", "a.yaml", "", ErrSyntax, "", 0, "empty"},
		{"json unknown field", "a.json", "{\n  \"engine\": {\"wasm\": {\"module\": \"" + cidModule + "\"}},\n  \"inptus\": []\n}", ErrUnknownField, "inptus", 3, `did you mean "inputs"`},
		{"json bad cid", "", "{\"engine\": {\"wasm\": {\n\"module\": \"Qmfoo\"}}}", ErrInvalid, "engine.wasm.module", 2, "not a CID"},
		{"json duplicate key", "a.json", `{"name": "a", "name": "b"}`, ErrSyntax, "", 0, "already defined"},
		{"json trailing", "a.json", `{"name": "a"} {}`, ErrSyntax, "", 0, "after the JSON"},
		{"json syntax", "a.json", `{"name": }`, ErrSyntax, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), tt.file)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %q does not wrap %v", err, tt.wantErr)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *FieldError", err)
			}
			if tt.wantPath != "" && fe.Path != tt.wantPath {
				t.Errorf("path %q, want %q (error %q)", fe.Path, tt.wantPath, err)
			}
			if tt.wantLine != 0 && fe.Line != tt.wantLine {
				t.Errorf("line %d, want %d (error %q)", fe.Line, tt.wantLine, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			if tt.file != "" && !strings.HasPrefix(err.Error(), tt.file) {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestParseReportsAllErrors(t *testing.T) {
	doc := "engine:\n  wasm:\n    module: " + cidModule + "\nconstraints: {locality: near}\ninputs:\n  - {cid: " + cidInput + ", path: rel}\n"
	_, err := Parse([]byte(doc), "x.yaml")
	fes := fieldErrors(err)
	if len(fes) != 2 {
		t.Fatalf("got %d field errors, want 2: %v", len(fes), err)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../../examples/jobs/*.yaml")
	files = append(files, "testdata/full.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseWith(data, f, ParseOptions{Local: func(r LocalRef) (cid.Cid, error) { return pathCID(t, r.Path), nil }})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.YAML()
			if err != nil {
				t.Fatal(err)
			}
			back := mustParse(t, string(out), "describe.yaml")
			if !reflect.DeepEqual(s, back) {
				t.Fatalf("YAML round trip changed the spec:\n%s\n%+v\n%+v", out, s, back)
			}
		})
	}
}

func TestValidateProgrammatic(t *testing.T) {
	s := &Spec{Engine: Engine{Docker: &Docker{Image: "alpine:3.20"}}}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if s.Count != 0 || s.Outputs != nil {
		t.Fatal("Validate modified the spec")
	}
	s.Inputs = []Input{{Path: "/in"}}
	err := s.Validate()
	if !errors.Is(err, ErrRequired) || !strings.Contains(err.Error(), "inputs[0].cid") {
		t.Fatalf("Validate: %v, want inputs[0].cid required", err)
	}
}

func TestInputCIDs(t *testing.T) {
	in, other := cid.MustParse(cidInput), cid.MustParse(cidOther)
	s := &Spec{
		Engine: Engine{Wasm: &Wasm{Module: cid.MustParse(cidModule)}},
		Inputs: []Input{{CID: in, Path: "/a"}, {CID: other, Path: "/b"}, {CID: in, Path: "/c"}},
	}
	if got := s.InputCIDs(); !reflect.DeepEqual(got, []cid.Cid{in, other}) {
		t.Errorf("InputCIDs = %v", got)
	}
	if got := s.ContentCIDs(); !reflect.DeepEqual(got, []cid.Cid{cid.MustParse(cidModule), in, other}) {
		t.Errorf("ContentCIDs = %v", got)
	}
}

// TestDeterministicDefault: engine.wasm.deterministic defaults to true
// unless reuse is never, a value equal to its default is not part of the
// job ID, any other is, and docker jobs are deterministic only when their
// spec says so.
func TestDeterministicDefault(t *testing.T) {
	wasm := "engine:\n  wasm:\n    module: " + cidModule + "\n"
	docker := "engine:\n  docker:\n    image: alpine\n"
	tests := []struct {
		name, doc string
		det       bool
		sameAs    string // a document with the same job ID ("" none)
	}{
		{"wasm default", wasm, true, wasm + "reuse: trusted\n"},
		{"wasm explicit default", wasm + "    deterministic: true\n", true, wasm},
		{"wasm off", wasm + "    deterministic: false\n", false, ""},
		{"reuse never", wasm + "reuse: never\n", false, wasm + "    deterministic: false\nreuse: never\n"},
		{"reuse never, deterministic", wasm + "    deterministic: true\nreuse: never\n", true, ""},
		{"docker default", docker, false, ""},
		{"docker promised", docker + "    deterministic: true\n", true, ""},
	}
	ids := map[cid.Cid]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.doc, "a.yaml")
			if got := s.Deterministic(); got != tt.det {
				t.Errorf("Deterministic() = %v, want %v", got, tt.det)
			}
			block, id, err := Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			if other, ok := ids[id]; ok && tt.sameAs == "" {
				t.Errorf("same job ID as %q", other)
			}
			ids[id] = tt.name
			back, err := Decode(block)
			if err != nil {
				t.Fatal(err)
			}
			if back.Deterministic() != tt.det {
				t.Errorf("decoded Deterministic() = %v, want %v", back.Deterministic(), tt.det)
			}
			y, err := s.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if _, again, err := Encode(mustParse(t, string(y), "b.yaml")); err != nil || again != id {
				t.Errorf("YAML round trip: %s, %v; want %s\n%s", again, err, id, y)
			}
			if tt.sameAs != "" {
				if _, id2, _ := Encode(mustParse(t, tt.sameAs, "c.yaml")); id2 != id {
					t.Errorf("job ID %s, want the one of %q: %s", id, tt.sameAs, id2)
				}
			}
		})
	}
}
