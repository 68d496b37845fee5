package jobspec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	s := mustParse(t, readFile(t, "testdata/full.yaml"), "full.yaml")
	block, id, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if id.Prefix().Codec != cid.DagCBOR || id.Version() != 1 || id != dag.CID(block) {
		t.Fatalf("job ID %s is not the CIDv1 dag-cbor of the block", id)
	}
	back, err := Decode(block)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(s, back) {
		t.Fatalf("round trip:\n%+v\n%+v", s, back)
	}
	// The block stores inputs, the image CID as tag-42 links.
	if !bytes.Contains(block, []byte{0xd8, 0x2a}) {
		t.Error("no tag 42 in the block")
	}
}

func TestEncodeDoesNotModifyInput(t *testing.T) {
	in := cid.MustParse(cidV0)
	s := &Spec{Engine: Engine{Wasm: &Wasm{Module: cid.MustParse(cidModule)}}, Inputs: []Input{{CID: in, Path: "/b"}, {CID: in, Path: "/a"}}}
	if _, _, err := Encode(s); err != nil {
		t.Fatal(err)
	}
	if s.Inputs[0].Path != "/b" || s.Inputs[0].CID != in || s.Type != "" {
		t.Fatal("Encode modified its argument")
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	_, _, err := Encode(&Spec{Name: "no engine"})
	if !errors.Is(err, ErrRequired) {
		t.Fatalf("Encode: %v, want ErrRequired", err)
	}
	// Every argument at its limit: each is valid, together they exceed a block.
	big := &Spec{Engine: Engine{Wasm: &Wasm{Module: cid.MustParse(cidModule)}}}
	for range MaxArgs {
		big.Engine.Wasm.Args = append(big.Engine.Wasm.Args, strings.Repeat("x", MaxArgLen))
	}
	if _, _, err := Encode(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode of a huge spec: %v, want ErrTooLarge", err)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := readTestFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// node builds a block from key/value pairs with the dag toolkit, so tests can
// write blocks that Encode never would.
func block(t *testing.T, build func(m *dag.Map)) []byte {
	t.Helper()
	m := dag.NewMap()
	build(m)
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wasmEngine(module cid.Cid) datamodel.Node {
	w := dag.NewMap()
	w.Link("module", module)
	e := dag.NewMap()
	e.Node("wasm", w.Build())
	return e.Build()
}

func TestDecodeStrict(t *testing.T) {
	mod := cid.MustParse(cidModule)
	good := block(t, func(m *dag.Map) {
		m.IntAlways("version", 1)
		m.Node("engine", wasmEngine(mod))
	})
	if _, err := Decode(good); err != nil {
		t.Fatalf("Decode(good): %v", err)
	}
	// The canonical minimal block, hand-encoded; then the same with its two
	// keys swapped (not dag-cbor order).
	canonical := "a266656e67696e65a1647761736da1666d6f64756c65d82a582500015512209880d8a672e374733583f9ad0f120054c2259fcc92a9442b35188c46445102c06776657273696f6e01"
	if hex.EncodeToString(good) != canonical {
		t.Fatalf("canonical encoding changed:\n%x", good)
	}
	unsorted, _ := hex.DecodeString("a26776657273696f6e0166656e67696e65a1647761736da1666d6f64756c65d82a582500015512209880d8a672e374733583f9ad0f120054c2259fcc92a9442b35188c46445102c0")
	nonMinimal, _ := hex.DecodeString(strings.Replace(canonical, "76657273696f6e01", "76657273696f6e1801", 1))

	tests := []struct {
		name  string
		block []byte
		want  error
		path  string
	}{
		{"unsorted keys", unsorted, nil, ""},
		{"non-minimal integer", nonMinimal, nil, ""},
		{"trailing bytes", append(append([]byte{}, good...), 0x00), ErrSyntax, ""},
		{"truncated", good[:len(good)-1], ErrSyntax, ""},
		{"not a map", []byte{0x01}, ErrInvalid, ""},
		{"empty", nil, ErrSyntax, ""},
		{"too large", make([]byte, MaxBlockSize+1), ErrTooLarge, ""},
		{"explicit default type", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			m.Str("type", "batch")
			m.Node("engine", wasmEngine(mod))
		}), ErrNonCanonical, ""},
		{"explicit default count", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			m.IntAlways("count", 1)
			m.Node("engine", wasmEngine(mod))
		}), ErrNonCanonical, ""},
		{"CIDv0 link", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			m.Node("engine", wasmEngine(cid.MustParse(cidV0)))
		}), ErrNonCanonical, ""},
		{"unsorted inputs", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			m.Node("engine", wasmEngine(mod))
			a, b := dag.NewMap(), dag.NewMap()
			a.Link("cid", mod)
			a.Str("path", "/b")
			b.Link("cid", mod)
			b.Str("path", "/a")
			m.Maps("inputs", []*dag.Map{a, b})
		}), ErrNonCanonical, ""},
		{"unknown field", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			m.Node("engine", wasmEngine(mod))
			m.Str("priority", "high")
		}), ErrUnknownField, "priority"},
		{"unknown nested field", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			w := dag.NewMap()
			w.Link("module", mod)
			w.Str("runtime", "x")
			e := dag.NewMap()
			e.Node("wasm", w.Build())
			m.Node("engine", e.Build())
		}), ErrUnknownField, "engine.wasm.runtime"},
		{"module as string", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			w := dag.NewMap()
			w.Str("module", cidModule)
			e := dag.NewMap()
			e.Node("wasm", w.Build())
			m.Node("engine", e.Build())
		}), ErrInvalid, "engine.wasm.module"},
		{"missing version", block(t, func(m *dag.Map) {
			m.Node("engine", wasmEngine(mod))
		}), ErrVersion, "version"},
		{"version 2", block(t, func(m *dag.Map) {
			m.IntAlways("version", 2)
			m.Node("engine", wasmEngine(mod))
		}), ErrVersion, "version"},
		{"invalid spec", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			m.Node("engine", wasmEngine(mod))
			m.Node("outputs", dag.List([]datamodel.Node{basicnode.NewString("relative")}))
		}), ErrInvalid, "outputs[0]"},
		{"bad peer bytes", block(t, func(m *dag.Map) {
			m.IntAlways("version", 1)
			m.Node("engine", wasmEngine(mod))
			ex := dag.NewMap()
			ex.BytesList("peers", [][]byte{{1, 2, 3}})
			c := dag.NewMap()
			c.Sub("executors", ex)
			m.Sub("constraints", c)
		}), ErrInvalid, "constraints.executors.peers[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.block)
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %q does not wrap %v", err, tt.want)
			}
			if tt.path != "" && !strings.Contains(err.Error(), tt.path+":") {
				t.Fatalf("error %q does not name %s", err, tt.path)
			}
		})
	}
}
