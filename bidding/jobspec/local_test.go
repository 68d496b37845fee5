package jobspec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// pathCID is a stand-in CID for a local path in tests: the raw CID of the
// path's bytes.
func pathCID(t testing.TB, path string) cid.Cid {
	t.Helper()
	h, err := mh.Sum([]byte(path), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// Local paths where CIDs are wanted reach ParseOptions.Local with their
// field and line, in document order, and the spec holds the CIDs it gave.
func TestParseWithLocalPaths(t *testing.T) {
	doc := `name: local
engine:
  wasm:
    module: ./hello.wasm
inputs:
  - src: ../data/corpus
    path: /inputs/corpus
  - cid: ` + cidInput + `
    path: /inputs/b
  - {path: /inputs/abs, src: /srv/abs}
`
	var refs []LocalRef
	s, err := ParseWith([]byte(doc), "job.yaml", ParseOptions{Local: func(r LocalRef) (cid.Cid, error) {
		refs = append(refs, r)
		return pathCID(t, r.Path), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []LocalRef{
		{Field: "engine.wasm.module", Path: "./hello.wasm", Line: 4},
		{Field: "inputs[0].src", Path: "../data/corpus", Line: 6},
		{Field: "inputs[2].src", Path: "/srv/abs", Line: 10},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Fatalf("refs %+v\nwant %+v", refs, want)
	}
	if s.Engine.Wasm.Module != pathCID(t, "./hello.wasm") {
		t.Errorf("module %s, want the resolver's CID", s.Engine.Wasm.Module)
	}
	got := map[string]cid.Cid{}
	for _, in := range s.Inputs {
		got[in.Path] = in.CID
	}
	if got["/inputs/corpus"] != pathCID(t, "../data/corpus") || got["/inputs/abs"] != pathCID(t, "/srv/abs") || got["/inputs/b"].String() != cidInput {
		t.Errorf("inputs %+v", s.Inputs)
	}
	// The same spec written with the CIDs is the same job.
	_, id1, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	withCIDs := fmt.Sprintf("name: local\nengine: {wasm: {module: %s}}\ninputs:\n  - {cid: %s, path: /inputs/corpus}\n  - {cid: %s, path: /inputs/b}\n  - {cid: %s, path: /inputs/abs}\n",
		pathCID(t, "./hello.wasm"), pathCID(t, "../data/corpus"), cidInput, pathCID(t, "/srv/abs"))
	_, id2, err := Encode(mustParse(t, withCIDs, "cids.yaml"))
	if err != nil || id1 != id2 {
		t.Fatalf("job ID with local paths %s, with their CIDs %s (%v)", id1, id2, err)
	}
	// docker image_cid takes a path too.
	var dref LocalRef
	if _, err := ParseWith([]byte("engine:\n  docker:\n    image_cid: ./img.tar\n"), "d.yaml", ParseOptions{Local: func(r LocalRef) (cid.Cid, error) {
		dref = r
		return pathCID(t, r.Path), nil
	}}); err != nil || dref != (LocalRef{Field: "engine.docker.image_cid", Path: "./img.tar", Line: 3}) {
		t.Fatalf("image_cid path: %+v, %v", dref, err)
	}
}

func TestParseLocalPathErrors(t *testing.T) {
	resolve := ParseOptions{Local: func(r LocalRef) (cid.Cid, error) {
		if strings.Contains(r.Path, "missing") {
			return cid.Undef, errors.New("no such file or directory")
		}
		return pathCID(t, r.Path), nil
	}}
	tests := []struct {
		name, doc string
		opts      ParseOptions
		wantPath  string
		wantLine  int
		wantText  string
	}{
		{"path without resolver", "engine:\n  wasm:\n    module: ./hello.wasm\n", ParseOptions{}, "engine.wasm.module", 3, "a daemon takes only CIDs"},
		{"src without resolver", "engine: {wasm: {module: " + cidModule + "}}\ninputs:\n  - path: /d\n    src: ./d\n", ParseOptions{}, "inputs[0].src", 4, "local path"},
		{"resolver fails", "engine:\n  wasm:\n    module: ./missing.wasm\n", resolve, "engine.wasm.module", 3, "./missing.wasm: no such file"},
		{"cid and src", "engine: {wasm: {module: " + cidModule + "}}\ninputs:\n  - path: /d\n    cid: " + cidInput + "\n    src: ./d\n", resolve, "inputs[0].src", 5, "not both"},
		{"src and cid", "engine: {wasm: {module: " + cidModule + "}}\ninputs:\n  - src: ./d\n    cid: " + cidInput + "\n    path: /d\n", resolve, "inputs[0].cid", 4, "not both"},
		{"empty src", "engine: {wasm: {module: " + cidModule + "}}\ninputs:\n  - path: /d\n    src: \"\"\n", resolve, "inputs[0].src", 4, "empty path"},
		{"src a list", "engine: {wasm: {module: " + cidModule + "}}\ninputs:\n  - path: /d\n    src: [a]\n", resolve, "inputs[0].src", 4, "single value"},
		{"bare word is no path", "engine:\n  wasm:\n    module: hello.wasm\n", resolve, "engine.wasm.module", 3, "not a CID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWith([]byte(tt.doc), "a.yaml", tt.opts)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if fe.Path != tt.wantPath || fe.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error %q (path %q line %d), want path %q line %d saying %q", err, fe.Path, fe.Line, tt.wantPath, tt.wantLine, tt.wantText)
			}
		})
	}
}
