package jobspec

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

const partWasm = "engine:\n  wasm:\n    module: " + cidModule + "\n"

func TestPartitionParse(t *testing.T) {
	doc := partWasm + "inputs:\n  - {cid: " + cidInput + ", path: /inputs}\npartition:\n  by: entry\n  max_parallel: 4\n"
	s := mustParse(t, doc, "p.yaml")
	p := s.Partition
	if p == nil || p.By != ByEntry || p.Input != DefaultPartitionInput || p.MaxParallel != 4 || p.RetryCount() != DefaultRetries {
		t.Fatalf("partition %+v", p)
	}
	// The partition is part of the job: it changes the job ID, and the
	// default input and retries are the canonical form of leaving them out.
	plain := mustParse(t, partWasm+"inputs:\n  - {cid: "+cidInput+", path: /inputs}\n", "q.yaml")
	explicit := mustParse(t, doc+"  input: /inputs\n  retries: 1\n", "r.yaml")
	idP, idPlain, idExplicit := jobID(t, s), jobID(t, plain), jobID(t, explicit)
	if idP == idPlain {
		t.Fatal("partition does not change the job ID")
	}
	if idP != idExplicit {
		t.Fatal("explicit defaults change the job ID")
	}
	noRetry := mustParse(t, doc+"  retries: 0\n", "s.yaml")
	if noRetry.Partition.RetryCount() != 0 || jobID(t, noRetry) == idP {
		t.Fatalf("retries: 0 is not kept: %+v", noRetry.Partition)
	}
	// Round trips through the block and YAML.
	block, _, err := Encode(noRetry)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(block)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, noRetry) {
		t.Fatalf("decode changed the spec: %+v vs %+v", back.Partition, noRetry.Partition)
	}
	y, err := noRetry.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if again := mustParse(t, string(y), "y.yaml"); !reflect.DeepEqual(again, noRetry) {
		t.Fatalf("YAML round trip changed the spec:\n%s", y)
	}
}

func TestPartitionParseErrors(t *testing.T) {
	in := "inputs:\n  - {cid: " + cidInput + ", path: /inputs}\n"
	tests := []struct {
		name, doc, path, text string
	}{
		{"bad by", partWasm + in + "partition: {by: file}\n", "partition.by", "use entry"},
		{"no by", partWasm + in + "partition: {max_parallel: 2}\n", "partition.by", "use entry"},
		{"unknown field", partWasm + in + "partition: {by: entry, retris: 2}\n", "partition.retris", `did you mean "retries"`},
		{"input not an input", partWasm + in + "partition: {by: entry, input: /data}\n", "partition.input", `"/data" is not the path of an input`},
		{"default input missing", partWasm + "inputs:\n  - {cid: " + cidInput + ", path: /d}\npartition: {by: entry}\n", "partition.input", "inputs are at /d"},
		{"no inputs", partWasm + "partition: {by: entry}\n", "partition.input", "no inputs"},
		{"remote entry input", partWasm + "inputs:\n  - {url: https://example.com/x, path: /inputs}\npartition: {by: entry}\n", "partition.input", "url input"},
		{"input with by input", partWasm + in + "partition: {by: input, input: /inputs}\n", "partition.input", "by: entry only"},
		{"by input without inputs", partWasm + "partition: {by: input}\n", "partition.by", "lists none"},
		{"negative parallel", partWasm + in + "partition: {by: entry, max_parallel: -1}\n", "partition.max_parallel", "-1"},
		{"too many retries", partWasm + in + "partition: {by: entry, retries: 11}\n", "partition.retries", "0 to 10"},
		{"negative retries", partWasm + in + "partition: {by: entry, retries: -1}\n", "partition.retries", ""},
		{"count", partWasm + in + "count: 3\npartition: {by: entry}\n", "partition", "runs on one node"},
		{"ops", partWasm + in + "type: ops\npartition: {by: entry}\n", "partition", "runs on one node"},
		{"secrets", partWasm + in + "secrets: [TOKEN]\npartition: {by: entry}\n", "partition", "secrets"},
		{"reserved env", "engine:\n  wasm:\n    module: " + cidModule + "\n    env: {SHOAL_PARTITION_INDEX: \"3\"}\n" + in + "partition: {by: entry}\n", "engine.wasm.env.SHOAL_PARTITION_INDEX", "set by the partitioned job"},
		{"not a map", partWasm + in + "partition: entry\n", "partition", "expected a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "p.yaml")
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *FieldError", err)
			}
			found := false
			for _, f := range fieldErrors(err) {
				found = found || f.Path == tt.path
			}
			if !found {
				t.Errorf("no error at %q: %v", tt.path, err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func TestPartitionTasks(t *testing.T) {
	other := "  - {cid: " + cidOther + ", path: /lookup}\n"
	s := mustParse(t, "name: wc\nengine:\n  wasm:\n    module: "+cidModule+"\n    env: {MODE: count}\ninputs:\n  - {cid: "+cidInput+", path: /inputs}\n"+other+"partition: {by: entry}\n", "p.yaml")
	parent := jobID(t, s)
	a, b := cid.MustParse(cidOther), cid.MustParse(cidModule)
	shards, err := s.Shards([]DirEntry{{Name: "a.txt", CID: a}, {Name: "b.txt", CID: b}})
	if err != nil {
		t.Fatal(err)
	}
	t0, err := s.Task(parent, shards, 1)
	if err != nil {
		t.Fatal(err)
	}
	if t0.Partition != nil || t0.Name != "wc#1" {
		t.Fatalf("task %+v", t0)
	}
	want := []Input{{CID: b, Path: "/inputs/b.txt"}, {CID: cid.MustParse(cidOther), Path: "/lookup"}}
	if !reflect.DeepEqual(t0.Inputs, want) {
		t.Fatalf("inputs %+v, want %+v", t0.Inputs, want)
	}
	env := t0.Engine.Wasm.Env
	if env[EnvPartitionIndex] != "1" || env[EnvPartitionCount] != "2" || env[EnvJobID] != parent.String() || env["MODE"] != "count" {
		t.Fatalf("env %v", env)
	}
	// Derived deterministically: the same task has the same ID; another
	// index another.
	again, _ := s.Task(parent, shards, 1)
	first, _ := s.Task(parent, shards, 0)
	if jobID(t, again) != jobID(t, t0) || jobID(t, first) == jobID(t, t0) {
		t.Fatal("task IDs are not deterministic per index")
	}
	if s.Engine.Wasm.Env[EnvJobID] != "" {
		t.Fatal("Task changed the parent's spec")
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if _, err := s.Shards([]DirEntry{{Name: bad, CID: a}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("entry %q: %v", bad, err)
		}
	}
	if _, err := s.Shards(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty directory: %v", err)
	}

	byInput := mustParse(t, partWasm+"inputs:\n  - {cid: "+cidInput+", path: /x}\n"+other+"partition: {by: input}\n", "i.yaml")
	shards, err = byInput.Shards(nil)
	if err != nil || len(shards) != 2 || shards[0].Name != "/lookup" {
		t.Fatalf("by input shards %+v %v", shards, err)
	}
	t1, err := byInput.Task(jobID(t, byInput), shards, 1)
	if err != nil || len(t1.Inputs) != 1 || t1.Inputs[0].Path != "/x" {
		t.Fatalf("by input task %+v %v", t1, err)
	}
}

func jobID(t *testing.T, s *Spec) cid.Cid {
	t.Helper()
	id, err := JobID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
