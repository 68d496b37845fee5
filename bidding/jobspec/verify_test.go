package jobspec

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// TestVerifyParse: verify's defaults (a majority quorum, distinct peer)
// are filled in and omitted from the job ID; every other value changes
// it, survives Encode/Decode and the YAML of describe.
func TestVerifyParse(t *testing.T) {
	wasm := "engine:\n  wasm:\n    module: " + cidModule + "\n"
	tests := []struct {
		name, doc string
		want      Verify
		sameAs    string
	}{
		{"defaults", wasm + "verify: {replicas: 3}\n", Verify{3, 2, DistinctPeer}, wasm + "verify: {replicas: 3, quorum: 2, distinct: peer}\n"},
		{"quorum", wasm + "verify: {replicas: 3, quorum: 3}\n", Verify{3, 3, DistinctPeer}, ""},
		{"org", wasm + "verify: {replicas: 3, distinct: org}\n", Verify{3, 2, DistinctOrg}, ""},
		{"two", wasm + "verify: {replicas: 2}\n", Verify{2, 2, DistinctPeer}, ""},
		{"five", wasm + "verify: {replicas: 5}\n", Verify{5, 3, DistinctPeer}, ""},
	}
	plain, err := JobID(mustParse(t, wasm, "p.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[cid.Cid]string{plain: "no verify"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.doc, "v.yaml")
			if s.Verify == nil || *s.Verify != tt.want {
				t.Fatalf("Verify = %+v, want %+v", s.Verify, tt.want)
			}
			if !s.Deterministic() || s.Executors() != tt.want.Replicas {
				t.Errorf("Deterministic %v, Executors %d", s.Deterministic(), s.Executors())
			}
			block, id, err := Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			if other, ok := ids[id]; ok {
				t.Errorf("same job ID as %q", other)
			}
			ids[id] = tt.name
			back, err := Decode(block)
			if err != nil {
				t.Fatal(err)
			}
			if back.Verify == nil || *back.Verify != tt.want {
				t.Errorf("decoded Verify = %+v", back.Verify)
			}
			y, err := s.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if _, again, err := Encode(mustParse(t, string(y), "d.yaml")); err != nil || again != id {
				t.Errorf("YAML round trip: %s, %v; want %s\n%s", again, err, id, y)
			}
			if tt.sameAs != "" {
				if _, id2, _ := Encode(mustParse(t, tt.sameAs, "c.yaml")); id2 != id {
					t.Errorf("job ID %s, want the one of %q: %s", id, tt.sameAs, id2)
				}
			}
		})
	}
	// reuse: never alone makes a wasm job non-deterministic; with verify
	// it stays deterministic.
	if s := mustParse(t, wasm+"reuse: never\nverify: {replicas: 3}\n", "n.yaml"); !s.Deterministic() {
		t.Error("verify with reuse: never is not deterministic")
	}
}

// TestVerifyErrors: each invalid verify names its field and says what to
// write instead.
func TestVerifyErrors(t *testing.T) {
	wasm := "engine:\n  wasm:\n    module: " + cidModule + "\n"
	tests := []struct {
		name, doc, path, want string
		sentinel              error
	}{
		{"no replicas", wasm + "verify: {quorum: 2}\n", "verify.replicas", "how many distinct executors", ErrRequired},
		{"one replica", wasm + "verify: {replicas: 1}\n", "verify.replicas", "1: use 2 to 16 replicas", ErrInvalid},
		{"too many", wasm + "verify: {replicas: 17}\n", "verify.replicas", "17: use 2 to 16", ErrInvalid},
		{"minority quorum", wasm + "verify: {replicas: 4, quorum: 2}\n", "verify.quorum", "with 4 replicas the quorum is 3 to 4", ErrInvalid},
		{"quorum over replicas", wasm + "verify: {replicas: 3, quorum: 4}\n", "verify.quorum", "4: with 3 replicas", ErrInvalid},
		{"zero quorum", wasm + "verify: {replicas: 3, quorum: 0}\n", "verify.quorum", "omit quorum", ErrInvalid},
		{"bad distinct", wasm + "verify: {replicas: 3, distinct: node}\n", "verify.distinct", `"node": use peer or org`, ErrInvalid},
		{"unknown field", wasm + "verify: {replicas: 3, mode: x}\n", "verify.mode", "", ErrUnknownField},
		{"not a map", wasm + "verify: 3\n", "verify", "", ErrInvalid},
		{"ops", wasm + "type: ops\nverify: {replicas: 3}\n", "verify", "cannot be verified", ErrInvalid},
		{"count", wasm + "count: 2\nverify: {replicas: 3}\n", "verify", "count is 2", ErrInvalid},
		{"nondeterministic", "engine:\n  wasm:\n    module: " + cidModule + "\n    deterministic: false\nverify: {replicas: 3}\n", "engine.wasm.deterministic", "runs deterministically", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "v.yaml")
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.path+":") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want %v at %s containing %q", err, tt.sentinel, tt.path, tt.want)
			}
			if !strings.Contains(err.Error(), "v.yaml:") {
				t.Errorf("error %q names no line", err)
			}
		})
	}
}

// TestVerifyDecodeStrict: Decode refuses a block that spells out the
// default quorum (not canonical) or carries an invalid verify.
func TestVerifyDecodeStrict(t *testing.T) {
	block := func(verify map[string]int64) []byte {
		m := dag.NewMap()
		m.IntAlways("version", Version)
		w := dag.NewMap()
		w.Link("module", cid.MustParse(cidModule))
		e := dag.NewMap()
		e.Sub("wasm", w)
		m.Sub("engine", e)
		v := dag.NewMap()
		for _, k := range []string{"quorum", "replicas"} {
			if x, ok := verify[k]; ok {
				v.IntAlways(k, x)
			}
		}
		m.Node("verify", v.Build())
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if s, err := Decode(block(map[string]int64{"replicas": 3})); err != nil || s.Verify.Quorum != 2 {
		t.Fatalf("Decode of replicas 3: %+v, %v", s, err)
	}
	if s, err := Decode(block(map[string]int64{"replicas": 3, "quorum": 3})); err != nil || s.Verify.Quorum != 3 {
		t.Fatalf("Decode of quorum 3: %+v, %v", s, err)
	}
	if _, err := Decode(block(map[string]int64{"replicas": 3, "quorum": 2})); !errors.Is(err, ErrNonCanonical) {
		t.Errorf("explicit default quorum: %v, want %v", err, ErrNonCanonical)
	}
	if _, err := Decode(block(map[string]int64{"replicas": 1})); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "verify.replicas") {
		t.Errorf("one replica: %v, want verify.replicas invalid", err)
	}
}
