package workflow

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

const mod = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
const data = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"

// fanIn: a and b are independent, c takes both.
var fanIn = `name: fan-in
steps:
  - name: a
    engine: {wasm: {module: ` + mod + `}}
    inputs: [{cid: ` + data + `, path: /inputs}]
  - name: b
    engine: {wasm: {module: ` + mod + `, args: [b]}}
  - name: c
    engine: {wasm: {module: ` + mod + `}}
    inputs:
      - {from: a, path: /inputs/a}
      - {from: b/table.txt, path: /inputs/b}
      - {cid: ` + data + `, path: /extra}
`

func TestParseFanIn(t *testing.T) {
	w, err := Parse([]byte(fanIn), "wf.yaml", jobspec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "fan-in" || len(w.Steps) != 3 {
		t.Fatalf("got %+v", w)
	}
	c := w.Steps[2]
	want := []From{{Path: "/inputs/a", Step: "a"}, {Path: "/inputs/b", Step: "b", Sub: "table.txt"}}
	if len(c.From) != 2 || c.From[0] != want[0] || c.From[1] != want[1] {
		t.Fatalf("from = %+v, want %+v", c.From, want)
	}
	if len(c.Spec.Inputs) != 1 || c.Spec.Inputs[0].Path != "/extra" {
		t.Fatalf("kept inputs = %+v, want only /extra", c.Spec.Inputs)
	}
	if got := w.Needs(2); strings.Join(got, ",") != "a,b" {
		t.Fatalf("needs = %v", got)
	}
	ca, _ := cid.Decode(data)
	spec, err := w.Concrete(2, map[string]cid.Cid{"/inputs/a": ca, "/inputs/b": ca})
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Inputs) != 3 {
		t.Fatalf("concrete inputs = %+v", spec.Inputs)
	}
	id1, _ := jobspec.JobID(spec)
	spec2, _ := w.Concrete(2, map[string]cid.Cid{"/inputs/b": ca, "/inputs/a": ca})
	if id2, _ := jobspec.JobID(spec2); id1 != id2 {
		t.Fatalf("concrete job IDs differ: %s %s", id1, id2)
	}
	if _, err := w.Concrete(2, map[string]cid.Cid{"/inputs/a": ca}); err == nil {
		t.Fatal("Concrete without every input: no error")
	}
}

func TestParseErrors(t *testing.T) {
	step := func(name, extra string) string {
		return "  - name: " + name + "\n    engine: {wasm: {module: " + mod + "}}\n" + extra
	}
	from := func(ref string) string { return "    inputs: [{from: " + ref + ", path: /inputs}]\n" }
	for _, tc := range []struct {
		name, doc string
		is        error
		want      []string
	}{
		{"unknown from", "name: x\nsteps:\n" + step("a", "") + step("b", from("nope")), ErrUnknownStep, []string{`"b"`, `"nope"`, "steps: a, b"}},
		{"cycle", "name: x\nsteps:\n" + step("a", from("c")) + step("b", from("a")) + step("c", from("b/out")), ErrCycle, []string{"a -> c -> b -> a"}},
		{"self", "name: x\nsteps:\n" + step("a", from("a")), ErrCycle, []string{"a -> a"}},
		{"duplicate", "name: x\nsteps:\n" + step("a", "") + step("a", ""), ErrDuplicate, []string{`steps[0] and steps[1] are both named "a"`}},
		{"no step name", "name: x\nsteps:\n  - engine: {wasm: {module: " + mod + "}}\n", ErrInvalid, []string{"steps[0]", "every step needs a name"}},
		{"no name", "steps:\n" + step("a", ""), ErrInvalid, []string{"name: required"}},
		{"no steps", "name: x\nsteps: []\n", ErrInvalid, []string{"0 steps"}},
		{"bad ref", "name: x\nsteps:\n" + step("a", "") + step("b", from("a/../etc")), jobspec.ErrInvalid, []string{"steps[1].inputs[0].from", "wf.yaml:7"}},
		{"cid and from", "name: x\nsteps:\n" + step("a", "") + step("b", "    inputs: [{from: a, cid: "+mod+", path: /i}]\n"), jobspec.ErrInvalid, []string{"not both"}},
		{"bad spec field", "name: x\nsteps:\n" + step("a", "    colour: red\n"), jobspec.ErrUnknownField, []string{"steps[0].colour", "wf.yaml:5"}},
		{"bad spec value", "name: x\nsteps:\n" + step("a", "    timeout: -3s\n"), jobspec.ErrInvalid, []string{"steps[0].timeout"}},
		{"unknown top field", "name: x\nstep: []\n", jobspec.ErrUnknownField, []string{"step", `did you mean "steps"?`}},
		{"ops step", "name: x\nsteps:\n" + step("a", "    type: ops\n"), ErrInvalid, []string{"batch job of count 1"}},
		{"two mounts", "name: x\nsteps:\n" + step("a", "") + step("b", "    inputs: [{from: a, path: /i}, {from: a, path: /i}]\n"), jobspec.ErrInvalid, []string{"inputs[1].path"}},
		{"version", "name: x\nversion: 2\nsteps:\n" + step("a", ""), nil, []string{"workflow version 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "wf.yaml", jobspec.ParseOptions{})
			if err == nil {
				t.Fatalf("no error for\n%s", tc.doc)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestParseJSON(t *testing.T) {
	doc := `{"name": "j", "steps": [
	  {"name": "a", "engine": {"wasm": {"module": "` + mod + `"}}},
	  {"name": "b", "engine": {"wasm": {"module": "` + mod + `"}}, "inputs": [{"from": "a", "path": "/inputs"}]}]}`
	w, err := Parse([]byte(doc), "wf.json", jobspec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := Parse([]byte("name: j\nsteps:\n  - {name: a, engine: {wasm: {module: "+mod+"}}}\n  - {name: b, engine: {wasm: {module: "+mod+"}}, inputs: [{from: a, path: /inputs}]}\n"), "wf.yaml", jobspec.ParseOptions{})
	idj, _ := ID(w)
	idy, _ := ID(y)
	if idj != idy {
		t.Fatalf("the same workflow in JSON and YAML has IDs %s and %s", idj, idy)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	w, err := Parse([]byte(fanIn), "", jobspec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	block, id, err := Encode(w)
	if err != nil {
		t.Fatal(err)
	}
	if id.Prefix().Codec != cid.DagCBOR {
		t.Fatalf("workflow ID %s is not dag-cbor", id)
	}
	back, err := Decode(block)
	if err != nil {
		t.Fatal(err)
	}
	if id2, _ := ID(back); id2 != id {
		t.Fatalf("round trip changed the ID: %s -> %s", id, id2)
	}
	if back.Steps[2].From[1].Sub != "table.txt" {
		t.Fatalf("sub path lost: %+v", back.Steps[2].From)
	}
	// A block that is not canonical is refused: the same map with an
	// extra field, and a truncated one.
	if _, err := Decode(block[:len(block)-3]); err == nil {
		t.Fatal("truncated block decoded")
	}
	// A cycle made by hand is refused by Encode and Decode alike.
	bad := *back
	bad.Steps = append([]Step(nil), back.Steps...)
	bad.Steps[0].From = []From{{Path: "/x", Step: "c"}}
	if _, _, err := Encode(&bad); !errors.Is(err, ErrCycle) {
		t.Fatalf("Encode of a cycle: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	w, _ := Parse([]byte(fanIn), "", jobspec.ParseOptions{})
	block, _, _ := Encode(w)
	f.Add(block)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := Decode(b)
		if err != nil {
			return
		}
		again, _, err := Encode(w)
		if err != nil || string(again) != string(b) {
			t.Fatalf("decoded block does not re-encode to itself: %v", err)
		}
	})
}

func TestNext(t *testing.T) {
	// a -> c, b -> c, c -> d, e independent.
	doc := fanIn + "  - name: d\n    engine: {wasm: {module: " + mod + "}}\n    inputs: [{from: c, path: /in}]\n  - name: e\n    engine: {wasm: {module: " + mod + "}}\n"
	w, err := Parse([]byte(doc), "", jobspec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	W, R, C, F := StepWaiting, StepRunning, StepCompleted, StepFailed
	for _, tc := range []struct {
		name    string
		states  []StepState
		ready   []int
		blocked []int
		done    bool
	}{
		{"start", []StepState{W, W, W, W, W}, []int{0, 1, 4}, nil, false},
		{"one of two inputs", []StepState{C, R, W, W, R}, nil, nil, false},
		{"fan-in ready", []StepState{C, C, W, W, C}, []int{2}, nil, false},
		{"failure reaches every dependent", []StepState{F, R, W, W, R}, nil, []int{2, 3}, false},
		{"cancelled input", []StepState{C, StepCancelled, W, W, C}, nil, []int{2, 3}, true},
		{"all ended", []StepState{C, C, C, F, C}, nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Next(w, tc.states)
			if !equalInts(p.Ready, tc.ready) {
				t.Errorf("ready = %v, want %v", p.Ready, tc.ready)
			}
			var blocked []int
			for i := range w.Steps {
				if _, ok := p.Blocked[i]; ok {
					blocked = append(blocked, i)
				}
			}
			if !equalInts(blocked, tc.blocked) {
				t.Errorf("blocked = %v, want %v", blocked, tc.blocked)
			}
			if p.Done != tc.done {
				t.Errorf("done = %v, want %v", p.Done, tc.done)
			}
		})
	}
	p := Next(w, []StepState{F, C, W, W, C})
	if !strings.Contains(p.Blocked[3], `"c"`) || !strings.Contains(p.Blocked[3], `"a"`) {
		t.Errorf("the reason of d does not name c and a: %q", p.Blocked[3])
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// partitioned: a map step split over the entries of a dataset CID, and a
// reduce over its result directory (task i's outputs under /<i>/).
var partitioned = `name: partitioned
steps:
  - name: map
    engine: {wasm: {module: ` + mod + `}}
    partition: {by: entry}
    inputs: [{cid: ` + data + `, path: /inputs}]
  - name: reduce
    engine: {wasm: {module: ` + mod + `}}
    inputs: [{from: map, path: /inputs}]
`

func TestParsePartitionedStep(t *testing.T) {
	w, err := Parse([]byte(partitioned), "wf.yaml", jobspec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := w.Steps[0].Spec
	if m.Partition == nil || m.Partition.By != jobspec.ByEntry || m.Partition.Input != jobspec.DefaultPartitionInput {
		t.Fatalf("map step's partition = %+v, want by entry of %s", m.Partition, jobspec.DefaultPartitionInput)
	}
	block, id, err := Encode(w)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(block)
	if err != nil {
		t.Fatal(err)
	}
	if p := back.Steps[0].Spec.Partition; p == nil || p.By != jobspec.ByEntry {
		t.Fatalf("decoded map step lost its partition: %+v", p)
	}
	if id2, _ := ID(back); id2 != id {
		t.Fatalf("round trip changed the ID: %s, %s", id, id2)
	}
	spec, err := w.Concrete(0, nil)
	if err != nil || spec.Partition == nil {
		t.Fatalf("concrete map step: %v %+v", err, spec)
	}
	// A partitioned step over another step's outputs: its input exists
	// only once that step completed.
	over := strings.Replace(partitioned, "    inputs: [{from: map, path: /inputs}]\n",
		"    partition: {by: entry}\n    inputs: [{from: map, path: /inputs}]\n", 1)
	w, err = Parse([]byte(over), "wf.yaml", jobspec.ParseOptions{})
	if err != nil {
		t.Fatalf("a partitioned step over a from input: %v", err)
	}
	ca, _ := cid.Decode(data)
	if spec, err := w.Concrete(1, map[string]cid.Cid{"/inputs": ca}); err != nil || spec.Partition == nil {
		t.Fatalf("concrete partitioned reduce: %v", err)
	}
}
