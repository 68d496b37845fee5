package jobspec

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
)

func readTestFile(name string) ([]byte, error) { return os.ReadFile(name) }

func seedDocuments(f *testing.F) [][]byte {
	files, _ := filepath.Glob("../../examples/jobs/*.yaml")
	files = append(files, "testdata/full.yaml", "testdata/remote.yaml")
	var docs [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		docs = append(docs, b)
	}
	docs = append(docs,
		[]byte(`{"engine": {"wasm": {"module": "`+cidModule+`"}}, "inputs": [{"cid": "`+cidV0+`", "path": "/in"}]}`),
		[]byte("engine: {docker: {image: alpine}}\ntype: ops\ncount: 2\n"),
		[]byte("engine: {wasm: {module: "+cidModule+", deterministic: false}}\nreuse: never\n"),
		[]byte("engine: {docker: {image: alpine, deterministic: true}}\n"),
		[]byte("engine: {wasm: {module: "+cidModule+"}}\nresources: {cpu: 500m, memory: 1.5GB}\n"),
		[]byte("engine: {wasm: {module: "+cidModule+"}}\nverify: {replicas: 5, quorum: 4, distinct: org}\n"),
		[]byte("engine: {docker: {image: alpine}}\nreuse: never\nverify: {replicas: 2}\n"),
		[]byte("engine: {wasm: {module: "+cidModule+"}}\ninputs: [{cid: "+cidInput+", path: /inputs}]\npartition: {by: entry, max_parallel: 3, retries: 0}\n"),
		[]byte("engine: {wasm: {module: "+cidModule+"}}\ninputs: [{cid: "+cidInput+", path: /a}, {cid: "+cidOther+", path: /b}]\npartition: {by: input}\n"),
	)
	return docs
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// encodes, decodes back to the same spec, and survives a YAML round trip.
func FuzzParse(f *testing.F) {
	for _, d := range seedDocuments(f) {
		f.Add(d, "job.yaml")
		f.Add(d, "")
	}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		s, err := Parse(data, name)
		if err != nil {
			return
		}
		block, id, err := Encode(s)
		if err != nil {
			t.Fatalf("Parse accepted a spec that Encode refuses: %v", err)
		}
		back, err := Decode(block)
		if err != nil {
			t.Fatalf("Decode(Encode(s)): %v", err)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("Decode(Encode(s)) != s:\n%+v\n%+v", s, back)
		}
		y, err := s.YAML()
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		again, err := Parse(y, "describe.yaml")
		if err != nil {
			t.Fatalf("Parse(s.YAML()): %v\n%s", err, y)
		}
		if _, id2, _ := Encode(again); id2 != id {
			t.Fatalf("YAML round trip changed the job ID:\n%s", y)
		}
	})
}

// FuzzDecode checks that Decode never panics and only accepts canonical
// blocks: re-encoding what it returns gives the same bytes.
func FuzzDecode(f *testing.F) {
	for _, d := range seedDocuments(f) {
		// The examples name local files: stand CIDs in for them.
		s, err := ParseWith(d, "", ParseOptions{Local: func(r LocalRef) (cid.Cid, error) { return pathCID(f, r.Path), nil }})
		if err != nil {
			f.Fatal(err)
		}
		b, _, err := Encode(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, block []byte) {
		s, err := Decode(block)
		if err != nil {
			return
		}
		again, _, err := Encode(s)
		if err != nil {
			t.Fatalf("Encode of a decoded spec: %v", err)
		}
		if !bytes.Equal(again, block) {
			t.Fatalf("Decode accepted a non-canonical block:\n%x\n%x", block, again)
		}
		back, err := Decode(again)
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("Decode(Encode(s)) != s: %v", err)
		}
	})
}
