package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// Workflows on real daemons: steps follow their data, a failure stops
// only its dependents, bad DAGs are refused, and a requester restarted
// mid-workflow finishes it with each step run once.

func wfWrite(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wfDone waits until the workflow id on d ended and returns its record.
func wfDone(t *testing.T, d *testnet.Daemon, id string, limit time.Duration) *api.WorkflowRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var v int64
	for {
		run, err := d.Client.Workflow(ctx, id, v)
		if err != nil {
			t.Fatalf("workflow %s: %v\n%s", id, err, d.Log())
		}
		if run.State != "running" {
			return run
		}
		v = run.Version
	}
}

func wfStep(t *testing.T, run *api.WorkflowRun, name string) api.WorkflowStep {
	t.Helper()
	for _, s := range run.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("workflow has no step %s: %+v", name, run.Steps)
	return api.WorkflowStep{}
}

type wcNet struct {
	ds              []*testnet.Daemon
	wcmap, wcreduce string // module CIDs, added on ds[0]
	fileA, fileB    string // corpus CIDs, added on ds[1] and ds[2]
	dir             string
}

func newWCNet(t *testing.T) *wcNet {
	ds := jobNet(t, 3)
	n := &wcNet{ds: ds, dir: t.TempDir()}
	n.wcmap = addQ(t, ds[0], testnet.WasmModule(t, "examples/wcmap"))
	n.wcreduce = addQ(t, ds[0], testnet.WasmModule(t, "examples/wcreduce"))
	n.fileA = addQ(t, ds[1], wfWrite(t, n.dir, "a.txt", "the cat sat on the mat\n"))
	n.fileB = addQ(t, ds[2], wfWrite(t, n.dir, "b.txt", "The dog ate the cat's food\n"))
	return n
}

func (n *wcNet) step(name, module, inputs, extra string) string {
	return fmt.Sprintf("  - name: %s\n    engine: {wasm: {module: %s%s}}\n    queue_timeout: 2m\n    inputs:\n%s", name, module, extra, inputs)
}

func TestWorkflowFanIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 daemons and runs a workflow")
	}
	n := newWCNet(t)
	req, h1, h2 := n.ds[0], n.ds[1], n.ds[2]
	doc := "name: fan-in\nsteps:\n" +
		n.step("map-a", n.wcmap, "      - {cid: "+n.fileA+", path: /inputs/a.txt}\n", "") +
		n.step("map-b", n.wcmap, "      - {cid: "+n.fileB+", path: /inputs/b.txt}\n", "") +
		n.step("reduce", n.wcreduce, "      - {from: map-a/counts.tsv, path: /inputs/a.tsv}\n      - {from: map-b/counts.tsv, path: /inputs/b.tsv}\n", `, env: {WCREDUCE_TOP: "3"}`)
	file := wfWrite(t, n.dir, "fan-in.yaml", doc)
	out, err := req.Run("workflow", "run", "--quiet", file)
	if err != nil {
		t.Fatalf("workflow run: %v\n%s\n%s", err, out, req.Log())
	}
	var id string
	list, err := req.Client.Workflows(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("workflow list: %v %+v", err, list)
	}
	id = list[0].ID
	run := wfDone(t, req, id, time.Minute)
	if run.State != "completed" {
		t.Fatalf("workflow %s: %s (%s) %+v", id, run.State, run.Error, run.Steps)
	}
	for _, s := range run.Steps {
		if !strings.Contains(out, s.Name+"\t"+s.Outputs) {
			t.Errorf("the attached run did not print %s's outputs %s:\n%s", s.Name, s.Outputs, out)
		}
	}
	// Each map step ran where its file is, fetching none of it.
	for name, holder := range map[string]*testnet.Daemon{"map-a": h1, "map-b": h2} {
		s := wfStep(t, run, name)
		if s.Executor != holder.ID || s.FetchedBytes != 0 || s.InputBytes == 0 {
			t.Errorf("%s ran on %s fetching %d of %d bytes; want on its data's holder %s, fetching 0", name, s.Executor, s.FetchedBytes, s.InputBytes, holder.ID)
		}
	}
	r := wfStep(t, run, "reduce")
	if r.Executor != h1.ID && r.Executor != h2.ID {
		t.Errorf("reduce ran on %s, not on a producer of its inputs (%s, %s)", r.Executor, h1.ID, h2.ID)
	}
	// It held one of the two count tables (its own step's) and fetched
	// the other: only the tables crossed the network.
	if r.FetchedBytes <= 0 || r.FetchedBytes >= r.InputBytes {
		t.Errorf("reduce fetched %d of %d input bytes; want the other producer's table only", r.FetchedBytes, r.InputBytes)
	}
	t.Logf("reduce ran on %s, fetching %d of %d input bytes", r.Executor, r.FetchedBytes, r.InputBytes)
	dest := filepath.Join(t.TempDir(), "reduce")
	if out, err := req.Run("workflow", "get", id, "reduce", "-o", dest); err != nil {
		t.Fatalf("workflow get: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dest, "top.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// the: 2 + 2, cat: 1 + 1, then the words seen once, by name: ate.
	if want := "4 the\n2 cat\n1 ate\n"; string(got) != want {
		t.Errorf("top.txt = %q, want %q", got, want)
	}
	desc, err := req.Run("workflow", "describe", id)
	if err != nil || !strings.Contains(desc, "map-a,map-b") || !strings.Contains(desc, h1.ID) {
		t.Errorf("describe does not show the DAG and executors: %v\n%s", err, desc)
	}
	// Running the same file again attaches to the completed workflow.
	before := executions(t, n.ds)
	if out, err := req.Run("workflow", "run", "--detach", file); err != nil || strings.TrimSpace(out) != id {
		t.Fatalf("second run: %v %q, want %s", err, out, id)
	}
	if after := executions(t, n.ds); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the second run executed steps again: %v -> %v", before, after)
	}
}

func TestWorkflowFailureAndRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 daemons and runs a workflow")
	}
	n := newWCNet(t)
	req, h1 := n.ds[0], n.ds[1]
	// bad merges a text that is no count table: it exits 1. after-bad
	// needs it; map-a and after-a are another branch.
	doc := "name: failure\nsteps:\n" +
		n.step("bad", n.wcreduce, "      - {cid: "+n.fileB+", path: /inputs/b.txt}\n", "") +
		n.step("after-bad", n.wcmap, "      - {from: bad, path: /inputs/x}\n", "") +
		n.step("map-a", n.wcmap, "      - {cid: "+n.fileA+", path: /inputs/a.txt}\n", "") +
		n.step("after-a", n.wcreduce, "      - {from: map-a, path: /inputs}\n", "")
	file := wfWrite(t, n.dir, "failure.yaml", doc)
	out, err := req.Run("workflow", "run", "--detach", file)
	if err != nil {
		t.Fatalf("workflow run: %v\n%s", err, out)
	}
	run := wfDone(t, req, strings.TrimSpace(out), 2*time.Minute)
	if run.State != "failed" {
		t.Fatalf("workflow: %s, want failed: %+v", run.State, run.Steps)
	}
	if s := wfStep(t, run, "bad"); s.State != "failed" || s.Error == "" {
		t.Errorf("bad: %s %q, want failed with a reason", s.State, s.Error)
	}
	if s := wfStep(t, run, "after-bad"); s.State != "failed" || s.Job != "" || !strings.Contains(s.Error, `"bad"`) {
		t.Errorf("after-bad: %s job %q error %q; want failed without a job, naming bad", s.State, s.Job, s.Error)
	}
	for _, name := range []string{"map-a", "after-a"} {
		if s := wfStep(t, run, name); s.State != "completed" {
			t.Errorf("%s of the independent branch: %s (%s)", name, s.State, s.Error)
		}
	}
	// after-a's only input is map-a's outputs: their producer runs it.
	if s := wfStep(t, run, "after-a"); s.Executor != h1.ID || s.FetchedBytes != 0 {
		t.Errorf("after-a ran on %s fetching %d bytes; want on map-a's executor %s, fetching nothing", s.Executor, s.FetchedBytes, h1.ID)
	}
	if out, err := req.Run("workflow", "run", "--quiet", file); err == nil || !strings.Contains(err.Error(), "failed: 2 of 4 steps did not complete: [bad after-bad]") {
		t.Errorf("attached run of a failed workflow: %v\n%s", err, out)
	}

	for name, tc := range map[string]struct{ doc, want string }{
		"cycle": {"name: c\nsteps:\n" + n.step("x", n.wcmap, "      - {from: y, path: /inputs}\n", "") + n.step("y", n.wcmap, "      - {from: x/counts.tsv, path: /inputs}\n", ""),
			"steps x -> y -> x depend on each other"},
		"unknown from": {"name: u\nsteps:\n" + n.step("x", n.wcmap, "      - {from: nope, path: /inputs}\n", ""),
			`step "x" takes an input from "nope", and no step has that name`},
	} {
		f := wfWrite(t, n.dir, strings.ReplaceAll(name, " ", "-")+".yaml", tc.doc)
		out, err := req.Run("workflow", "run", f)
		if err == nil || !strings.Contains(err.Error()+out, tc.want) {
			t.Errorf("%s: run gave %v, output does not say %q:\n%s", name, err, tc.want, out)
		}
		// The daemon refuses the same document on its own.
		resp, err := req.Client.Do(context.Background(), "POST", "/workflows", nil, strings.NewReader(tc.doc), "application/yaml")
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: POST /workflows accepted it", name)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: POST /workflows: %v, want it to say %q", name, err, tc.want)
		}
	}
	// A local directory is a step's input (a dataset to partition), never
	// its module.
	if err := os.Mkdir(filepath.Join(n.dir, "moddir"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := wfWrite(t, n.dir, "dir-module.yaml", "name: d\nsteps:\n"+n.step("x", "./moddir", "      - {cid: "+n.fileA+", path: /inputs}\n", ""))
	if out, err := req.Run("workflow", "run", f); err == nil || !strings.Contains(err.Error()+out, "moddir is a directory; steps[0].engine.wasm.module names a file") {
		t.Errorf("a directory as a step's module: %v\n%s", err, out)
	}
	if list, _ := req.Client.Workflows(context.Background()); len(list) != 1 {
		t.Errorf("refused workflows were recorded: %d runs", len(list))
	}
}

func TestWorkflowRequesterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 daemons and restarts one mid-workflow")
	}
	ds := jobNet(t, 3)
	req, ex := ds[0], ds[1]
	sleep := addQ(t, req, testnet.WasmModule(t, "internal/testnet/wasm/sleep"))
	wcmap := addQ(t, req, testnet.WasmModule(t, "examples/wcmap"))
	on := "    constraints: {executors: {peers: [" + ex.ID + "]}}\n    queue_timeout: 2m\n"
	doc := "name: restart\nsteps:\n" +
		"  - name: slow\n    engine: {wasm: {module: " + sleep + `, args: ["4s"]}}` + "\n    reuse: never\n" + on +
		"  - name: count\n    engine: {wasm: {module: " + wcmap + "}}\n    inputs: [{from: slow, path: /inputs}]\n" + on
	file := wfWrite(t, t.TempDir(), "restart.yaml", doc)
	before := executions(t, ds)
	out, err := req.Run("workflow", "run", "--detach", file)
	if err != nil {
		t.Fatalf("workflow run: %v\n%s", err, out)
	}
	id := strings.TrimSpace(out)
	// Wait until slow's job runs on its executor, then kill the requester.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var job string
	for v := int64(0); job == ""; {
		run, err := req.Client.Workflow(ctx, id, v)
		if err != nil {
			t.Fatal(err)
		}
		v, job = run.Version, run.Steps[0].Job
	}
	ectx, stop := context.WithCancel(ctx)
	running := false
	j, _ := req.Client.Events(ectx, job, func(e api.Event) {
		if e.State == "running" {
			running = true
			stop()
		}
	})
	stop()
	if !running {
		t.Fatalf("slow's job %s never ran before ending: %+v", job, j)
	}
	req.Kill()
	if err := req.Restart([]string{ex.TCPAddr()}); err != nil {
		t.Fatal(err)
	}
	run := wfDone(t, req, id, 2*time.Minute)
	if run.State != "completed" {
		t.Fatalf("after the restart: %s (%s) %+v\n%s", run.State, run.Error, run.Steps, req.Log())
	}
	after := executions(t, ds)
	for _, d := range ds {
		want := before[d.ID]
		if d == ex {
			want += 2
		}
		if after[d.ID] != want {
			t.Errorf("%s executed %d jobs, want %d (each step once, on %s)", d.ID, after[d.ID]-before[d.ID], want-before[d.ID], ex.ID)
		}
	}
}

// TestWorkflowExampleRuns: examples/workflows/wordcount.yaml runs as
// written (local modules and corpus added first) on one daemon, and its
// top words are those of the corpus.
func TestWorkflowExampleRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon and runs a workflow")
	}
	repo := moduleRootForTest(t)
	root := t.TempDir()
	for _, pkg := range []string{"wcmap", "wcreduce"} {
		b, err := os.ReadFile(testnet.WasmModule(t, "examples/"+pkg))
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(root, "examples", pkg, pkg+".wasm"), b)
	}
	for _, f := range []string{"workflows/wordcount.yaml", "wordcount/corpus/fox.txt", "wordcount/corpus/shoal.txt"} {
		b, err := os.ReadFile(filepath.Join(repo, "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(root, "examples", f), b)
	}
	d := jobNet(t, 1)[0]
	out, err := d.Run("workflow", "run", "--quiet", filepath.Join(root, "examples", "workflows", "wordcount.yaml"))
	if err != nil {
		t.Fatalf("workflow run: %v\n%s", err, out)
	}
	list, err := d.Client.Workflows(context.Background())
	if err != nil || len(list) != 1 || list[0].State != "completed" {
		t.Fatalf("workflows: %v %+v", err, list)
	}
	// Its map step is partitioned over the corpus directory: one task per
	// file.
	run, err := d.Client.Workflow(context.Background(), list[0].ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	if m := wfStep(t, run, "map"); m.Partition == nil || len(m.Partition.Tasks) != 2 || m.Outputs != m.Partition.Result {
		t.Fatalf("map step: outputs %s, partition %+v; want 2 tasks (fox.txt, shoal.txt)", m.Outputs, m.Partition)
	}
	dest := filepath.Join(t.TempDir(), "top")
	if out, err := d.Run("workflow", "get", list[0].ID, "reduce", "-o", dest); err != nil {
		t.Fatalf("workflow get: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dest, "top.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// The same counts computed here from the corpus.
	counts := map[string]int{}
	for _, f := range []string{"fox.txt", "shoal.txt"} {
		b, _ := os.ReadFile(filepath.Join(repo, "examples", "wordcount", "corpus", f))
		for _, w := range strings.FieldsFunc(strings.ToLower(string(b)), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			counts[w]++
		}
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 5 {
		t.Fatalf("top.txt has %d lines, want 5:\n%s", len(lines), got)
	}
	prev := 1 << 30
	for _, l := range lines {
		var n int
		var w string
		if _, err := fmt.Sscanf(l, "%d %s", &n, &w); err != nil || counts[w] != n || n > prev {
			t.Errorf("top.txt line %q: the corpus has %d of %q (or the order is wrong)", l, counts[w], w)
		}
		prev = n
	}
}

// wcCount counts words as examples/wcmap does: maximal runs of letters and
// digits, lower-cased.
func wcCount(counts map[string]int, text string) {
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		counts[w]++
	}
}

// wcTop is what examples/wcreduce writes to top.txt: the n most frequent
// words, "count word" lines, ties by word.
func wcTop(counts map[string]int, n int) string {
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	slices.Sort(words)
	slices.SortStableFunc(words, func(a, b string) int { return counts[b] - counts[a] })
	var b strings.Builder
	for _, w := range words[:min(n, len(words))] {
		fmt.Fprintf(&b, "%d %s\n", counts[w], w)
	}
	return b.String()
}

// TestWorkflowPartitionedMap: a workflow whose map step is partitioned
// over a dataset (shoal dir make of three files, each added on a different
// node), then a reduce over the map's result directory (task i's count
// table under /<i>/). Each task runs on its file's holder and fetches none
// of it; the reduce's top words are the corpus's; describe shows the tasks.
func TestWorkflowPartitionedMap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 daemons and runs a workflow with a partitioned step")
	}
	ds := jobNet(t, 4)
	req, holders := ds[0], ds[1:]
	dir := t.TempDir()
	wcmap := addQ(t, req, testnet.WasmModule(t, "examples/wcmap"))
	wcreduce := addQ(t, req, testnet.WasmModule(t, "examples/wcreduce"))
	corpus := map[string]string{
		"fox.txt":    strings.Repeat("The quick brown fox jumps over the lazy dog.\n", 300),
		"shoal.txt":  strings.Repeat("A shoal of fish swims where the data is; fish, fish!\n", 200),
		"reduce.txt": strings.Repeat("Map where the data lives, then reduce the counts of the map.\n", 250),
	}
	names := slices.Sorted(maps.Keys(corpus)) // task order: the dataset's entries by name
	holderOf := map[string]*testnet.Daemon{}
	want := map[string]int{}
	var pairs []string
	for i, name := range names {
		h := holders[i]
		c := addQ(t, h, wfWrite(t, dir, name, corpus[name]))
		holderOf[name] = h
		pairs = append(pairs, name+"="+c)
		wcCount(want, corpus[name])
	}
	dataset := strings.TrimSpace(trRun(t, req, append([]string{"dir", "make", "-q"}, pairs...)...))
	doc := "name: partitioned-map\nsteps:\n" +
		n0step("map", wcmap, "    partition: {by: entry}\n    inputs: [{cid: "+dataset+", path: /inputs}]\n", "") +
		n0step("reduce", wcreduce, "    inputs: [{from: map, path: /inputs}]\n", `, env: {WCREDUCE_TOP: "5"}`)
	file := wfWrite(t, dir, "partitioned.yaml", doc)
	if out, err := req.Run("workflow", "run", "--quiet", file); err != nil {
		t.Fatalf("workflow run: %v\n%s\n%s", err, out, req.Log())
	}
	list, err := req.Client.Workflows(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("workflow list: %v %+v", err, list)
	}
	id := list[0].ID
	run := wfDone(t, req, id, 3*time.Minute)
	if run.State != "completed" {
		t.Fatalf("workflow %s: %s (%s) %+v", id, run.State, run.Error, run.Steps)
	}
	m := wfStep(t, run, "map")
	if m.Partition == nil || len(m.Partition.Tasks) != len(names) || m.Partition.Result == "" || m.Outputs != m.Partition.Result {
		t.Fatalf("map step: outputs %s, partition %+v; want %d tasks whose result directory is the step's outputs", m.Outputs, m.Partition, len(names))
	}
	for _, task := range m.Partition.Tasks {
		h := holderOf[task.Shard]
		if h == nil || task.Shard != names[task.Index] {
			t.Fatalf("task %d has shard %q; want %q", task.Index, task.Shard, names[task.Index])
		}
		if task.Executor != h.ID || !task.HeldLocally || task.BytesFetched != 0 || task.State != api.JobCompleted {
			t.Errorf("task %d (%s): on %s, held %v, fetched %d, %s; want on its holder %s, held, 0 fetched, completed",
				task.Index, task.Shard, task.Executor, task.HeldLocally, task.BytesFetched, task.State, h.ID)
		}
	}
	if r := wfStep(t, run, "reduce"); r.Partition != nil {
		t.Errorf("reduce is not partitioned, and has tasks: %+v", r.Partition)
	}
	dest := filepath.Join(t.TempDir(), "reduce")
	if out, err := req.Run("workflow", "get", id, "reduce", "-o", dest); err != nil {
		t.Fatalf("workflow get: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dest, "top.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if w := wcTop(want, 5); string(got) != w {
		t.Errorf("top.txt = %q, want %q (the corpus's top 5)", got, w)
	}
	desc, err := req.Run("workflow", "describe", id)
	if err != nil || !strings.Contains(desc, "Step map:") || !strings.Contains(desc, "HELD LOCALLY") {
		t.Fatalf("describe has no task table for the map step: %v\n%s", err, desc)
	}
	for _, name := range names {
		if !strings.Contains(desc, name) || !strings.Contains(desc, holderOf[name].ID) {
			t.Errorf("describe does not show task %s on %s:\n%s", name, holderOf[name].ID, desc)
		}
	}
	t.Logf("describe:\n%s", desc)
}

// n0step is a workflow step in YAML: its module, its other fields (each
// line indented 4 spaces) and extra engine fields.
func n0step(name, module, fields, extra string) string {
	return fmt.Sprintf("  - name: %s\n    engine: {wasm: {module: %s%s}}\n    queue_timeout: 2m\n%s", name, module, extra, fields)
}
