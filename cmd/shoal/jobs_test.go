package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// jobNet starts n daemons; labels[i] (if any) are init labels of node i.
func jobNet(t *testing.T, n int, labels ...[]string) []*testnet.Daemon {
	return jobNetTB(t, n, labels...)
}

func jobNetTB(t testing.TB, n int, labels ...[]string) []*testnet.Daemon {
	t.Helper()
	// Windows close early on fully-local idle bids; the bound only matters
	// for ops jobs and when the best bidder is slow, which under the race
	// detector on 2 cores it can be.
	return jobNetWindow(t, n, 2*time.Second, labels...)
}

// jobNetWindow is jobNetTB with the given bid window (0: the default).
func jobNetWindow(t testing.TB, n int, window time.Duration, labels ...[]string) []*testnet.Daemon {
	t.Helper()
	return jobNetConfig(t, n, window, nil, labels...)
}

// publishAll makes the daemons publish the receipt record of every run,
// however short (jobs.memo_min_run), for tests of reuse across nodes.
func publishAll(c *node.Config) { c.Jobs.MemoMinRun = -1 }

// jobNetConfig is jobNetWindow with edit (if any) applied to every
// daemon's config after the defaults of the tests.
func jobNetConfig(t testing.TB, n int, window time.Duration, edit func(*node.Config), labels ...[]string) []*testnet.Daemon {
	t.Helper()
	short := testnet.EditConfig(func(c *node.Config) {
		c.Content.FindProvidersTimeout = node.Duration(2 * time.Second)
		c.Jobs.DisableDocker = true
		c.Jobs.BidWindow = node.Duration(window)
		// Benchmarks compare with memoization off (SHOAL_BENCH_NO_MEMO=1).
		c.Jobs.DisableMemo = os.Getenv("SHOAL_BENCH_NO_MEMO") != ""
		if edit != nil {
			edit(c)
		}
	})
	first := testnet.Start(t, testnet.Options{Configure: short, InitArgs: labelArgs(labels, 0)})
	ds := []*testnet.Daemon{first}
	for i := 1; i < n; i++ {
		ds = append(ds, testnet.Start(t, testnet.Options{Configure: short, Bootstrap: []string{first.TCPAddr()}, InitArgs: labelArgs(labels, i)}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range ds {
		if _, err := d.Client.Peers(ctx, api.WaitOptions{Min: n - 1, Timeout: 30 * time.Second, Topic: true}); err != nil {
			for _, x := range ds {
				id, _ := x.Client.ID(context.Background())
				t.Logf("%s: %d peers, %d on the topic", x.ID, id.Peers, id.TopicPeers)
				peers, _ := x.Client.Peers(context.Background(), api.WaitOptions{})
				t.Logf("  peers %+v", peers)
			}
			t.Fatalf("%s: %v", d.ID, err)
		}
	}
	return ds
}

func labelArgs(labels [][]string, i int) []string {
	if i >= len(labels) {
		return nil
	}
	var out []string
	for _, l := range labels[i] {
		out = append(out, "--label", l)
	}
	return out
}

// runJSON runs `shoal run ...` or `shoal job run ...` with --json on d and
// returns the final job record; a failed job is returned with its error.
func runJSON(t *testing.T, d *testnet.Daemon, args ...string) (*api.Job, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// --json before any "--": what follows it are the job's arguments.
	withJSON := append([]string{}, args...)
	if i := slices.Index(withJSON, "--"); i >= 0 {
		withJSON = slices.Insert(withJSON, i, "--json")
	} else {
		withJSON = append(withJSON, "--json")
	}
	out, err := d.RunContext(ctx, nil, withJSON...)
	var j api.Job
	if jerr := json.Unmarshal([]byte(out), &j); jerr != nil {
		if err != nil {
			return nil, err
		}
		t.Fatalf("%v: not a job record: %v\n%s", args, jerr, out)
	}
	return &j, err
}

func TestJobPlacementOnDataHolder(t *testing.T) {
	ds := jobNet(t, 3)
	a, b := ds[0], ds[1]
	wc := testnet.WasmModule(t, "examples/wordcount")
	// The data lives on B only.
	dir := filepath.Join(t.TempDir(), "corpus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("the quick brown fox jumps over the lazy dog\n", 20000)
	if err := os.WriteFile(filepath.Join(dir, "fox.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	data := addQ(t, b, "-r", dir)

	j, err := runJSON(t, a, "run", "wasm", wc, "--input", data+":/inputs")
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 1 {
		t.Fatalf("job %s: state %s, %d receipts", j.ID, j.State, len(j.Receipts))
	}
	if got := j.Receipts[0].Executor; got != b.ID {
		t.Fatalf("job ran on %s, want the data holder %s", got, b.ID)
	}
	// The outputs come back to A by CID.
	out := filepath.Join(t.TempDir(), "out")
	if _, err := a.Run("job", "get", j.ID, "-o", out); err != nil {
		t.Fatal(err)
	}
	counts, err := os.ReadFile(filepath.Join(out, "counts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(counts), "fox") || !strings.Contains(string(counts), "20000") {
		t.Fatalf("counts.txt does not count the corpus:\n%.300s", counts)
	}
	logs, err := a.Run("job", "logs", j.ID)
	if err != nil || logs == "" {
		t.Fatalf("job logs: %q %v", logs, err)
	}

	// locality: required and nobody holding the input with capacity: a
	// clear failure listing the reasons.
	missing := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	j, err = runJSON(t, a, "run", "wasm", wc, "--input", missing+":/inputs", "--locality", "required", "--queue-timeout", "2s")
	if err == nil || j == nil || j.State != api.JobFailed {
		t.Fatalf("locality required without a holder: %v %+v", err, j)
	}
	if !strings.Contains(j.Error, "locality required") {
		t.Fatalf("failure does not say why: %s", j.Error)
	}
}

// A job's first round asks only the holders of its input; when they cannot
// run it, the next round goes to everyone at once. Here the input is on B
// and only C has the label the job requires: B declines the solicited
// round, C wins the open one and fetches the input from B.
func TestJobSolicitedRoundFallsBackToGossip(t *testing.T) {
	ds := jobNet(t, 3, nil, nil, []string{"zone=c"})
	a, b, c := ds[0], ds[1], ds[2]
	in := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(in, []byte("data held by B only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := addQ(t, b, in)
	hello := testnet.WasmModule(t, "examples/hello")
	j, err := runJSON(t, a, "run", "wasm", hello, "--input", data+":/inputs/in.txt", "--label", "zone=c", "--name", "fallback")
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Executor != c.ID {
		t.Fatalf("job %s: state %s, receipts %+v; want one from C %s", j.ID, j.State, j.Receipts, c.ID)
	}
	// The open round follows the solicited one at once: no backoff
	// between them.
	var rounds []string
	for _, e := range j.Events {
		if e.Type == "announce" {
			rounds = append(rounds, e.Message)
		}
		if len(rounds) == 1 && strings.Contains(e.Message, "announcing again") {
			t.Fatalf("the open round waited for the backoff: %q", e.Message)
		}
	}
	// Under load C's bid may also miss the open round's window: the
	// requester then announces to all again, which is right too; every
	// round after the first is open.
	want := []string{"attempt 1: asked 1 peer(s) directly: " + shortID(b.ID), "attempt 2: announced to all on the topic"}
	if len(rounds) < 2 || !slices.Equal(rounds[:2], want) {
		t.Fatalf("rounds %q, want %q first", rounds, want)
	}
	for _, r := range rounds[2:] {
		if !strings.HasSuffix(r, ": announced to all on the topic") {
			t.Fatalf("round %q after the open one is not open (rounds %q)", r, rounds)
		}
	}
	declined := false
	for _, d := range j.Declines {
		declined = declined || d.Peer == b.ID
	}
	if !declined {
		t.Fatalf("B's decline not recorded: %+v", j.Declines)
	}
}

func TestJobNobodyCanRunListsDeclines(t *testing.T) {
	ds := jobNet(t, 3)
	hello := testnet.WasmModule(t, "examples/hello")
	j, err := runJSON(t, ds[0], "run", "wasm", hello, "--label", "gpu=h100", "--queue-timeout", "2s")
	if err == nil || j.State != api.JobFailed {
		t.Fatalf("job nobody can run: %v, %+v", err, j)
	}
	for _, d := range ds {
		if !strings.Contains(j.Error, "declined by "+d.ID[:8]) {
			t.Errorf("error does not list %s's decline: %s", d.ID, j.Error)
		}
	}
	out, err := ds[0].Run("job", "describe", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "labels_mismatch") || !strings.Contains(out, "gpu") {
		t.Fatalf("describe does not show the declines:\n%s", out)
	}

	// Same for an ops job: its windows close as soon as every peer
	// declined, and the announcements still back off (0.5 s, 1 s, ...)
	// rather than follow each other at once.
	j, err = runJSON(t, ds[0], "run", "wasm", hello, "--type", "ops", "--label", "gpu=h100", "--queue-timeout", "2s")
	if err == nil || j.State != api.JobFailed {
		t.Fatalf("ops job nobody can run: %v, %+v", err, j)
	}
	announces := 0
	for _, e := range j.Events {
		if e.Type == "announce" {
			announces++
		}
	}
	if announces < 2 || announces > 5 {
		t.Fatalf("%d announcements in a 2 s queue timeout, want 2 to 5 (backoff 0.5 s, 1 s)", announces)
	}
}

func TestJobUnknownInput(t *testing.T) {
	ds := jobNet(t, 2)
	hello := testnet.WasmModule(t, "examples/hello")
	missing := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	j, err := runJSON(t, ds[0], "run", "wasm", hello, "--input", missing+":/data", "--queue-timeout", "5s")
	if err == nil || j.State != api.JobFailed {
		t.Fatalf("job with an unknown input: %v %+v", err, j)
	}
	if !strings.Contains(j.Error, "input CID "+missing+" not found") {
		t.Fatalf("error does not name the input: %s", j.Error)
	}
}

func TestJobSpecErrors(t *testing.T) {
	d := testnet.Start(t, testnet.Options{Configure: testnet.EditConfig(func(c *node.Config) { c.Jobs.DisableDocker = true })})
	dir := t.TempDir()
	cases := []struct{ name, doc, want, line string }{
		{"unknown field", "engine:\n  wasm:\n    module: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy\ncolor: red\n", "color: unknown field", ":4:"},
		{"bad cid", "engine:\n  wasm:\n    module: not-a-cid\n", "engine.wasm.module", ":3:"},
		{"bad duration", "engine:\n  wasm:\n    module: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy\ntimeout: soon\n", "timeout", ":4:"},
		{"missing engine", "name: x\n", "engine", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(p, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := d.Run("job", "run", p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not name %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.line) {
				t.Fatalf("error %v does not give the line (%s)", err, tc.line)
			}
		})
	}
	// The API refuses the same document with a clear error.
	_, err := d.Client.Submit(context.Background(), []byte("engine: {}\n"), false)
	if err == nil || !strings.Contains(err.Error(), "engine") {
		t.Fatalf("API submit of a bad spec: %v", err)
	}
}

func TestJobFailoverAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills an executor mid-job")
	}
	ds := jobNet(t, 3, nil, []string{"role=worker"}, []string{"role=worker"})
	a := ds[0]
	sleep := testnet.WasmModule(t, "internal/testnet/wasm/sleep")
	res, err := a.Client.Submit(context.Background(), []byte(jobSpecWithModule(t, a, sleep, "failover", "4s", "role: worker")), false)
	if err != nil {
		t.Fatal(err)
	}
	// Wait (on the event stream) until the job runs, then kill -9 its
	// executor.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	killed := ""
	var mu sync.Mutex
	final, err := a.Client.Events(ctx, res.ID, func(e api.Event) {
		mu.Lock()
		defer mu.Unlock()
		if killed == "" && strings.HasPrefix(e.Message, "running on ") {
			for _, d := range ds[1:] {
				if d.ID == e.Peer {
					killed = d.ID
					d.Kill()
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if killed == "" {
		t.Fatal("the job never ran on a worker")
	}
	if final.State != api.JobCompleted {
		t.Fatalf("job %s after failover: %s (%s)", final.ID, final.State, final.Error)
	}
	if len(final.Receipts) != 1 {
		t.Fatalf("%d receipts, want exactly 1: %+v", len(final.Receipts), final.Receipts)
	}
	if final.Receipts[0].Executor == killed {
		t.Fatalf("receipt from the killed executor %s", killed)
	}
	lost := 0
	for _, aw := range final.Awards {
		if aw.State == "lost" {
			lost++
		}
	}
	if lost != 1 {
		t.Fatalf("awards %+v: want exactly one lost", final.Awards)
	}
}

// jobSpecWithModule adds module on d and returns a spec running it with arg.
func jobSpecWithModule(t *testing.T, d *testnet.Daemon, module, name, arg, labels string) string {
	t.Helper()
	mod := addQ(t, d, module)
	spec := fmt.Sprintf("name: %s\nengine:\n  wasm:\n    module: %s\n    args: [%q]\n", name, mod, arg)
	if labels != "" {
		spec += "constraints:\n  labels: {" + labels + "}\n"
	}
	return spec
}

func TestJobRequesterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a daemon mid-job")
	}
	ds := jobNet(t, 2, nil, []string{"role=worker"})
	a := ds[0]
	sleep := testnet.WasmModule(t, "internal/testnet/wasm/sleep")
	res, err := a.Client.Submit(context.Background(), []byte(jobSpecWithModule(t, a, sleep, "restart", "3s", "role: worker")), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	running := make(chan struct{})
	var once sync.Once
	go func() {
		_, _ = a.Client.Events(ctx, res.ID, func(e api.Event) {
			if strings.HasPrefix(e.Message, "running on ") {
				once.Do(func() { close(running) })
			}
		})
	}()
	select {
	case <-running:
	case <-ctx.Done():
		t.Fatal("job never ran")
	}
	if err := a.Restart([]string{ds[1].TCPAddr()}); err != nil {
		t.Fatal(err)
	}
	final, err := a.Client.Events(ctx, res.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if final.State != api.JobCompleted || len(final.Receipts) != 1 || final.Receipts[0].Executor != ds[1].ID {
		t.Fatalf("after the requester restarted: %s (%s), receipts %+v", final.State, final.Error, final.Receipts)
	}
}

func TestJobOpsRunsEverywhere(t *testing.T) {
	ds := jobNet(t, 4)
	hello := testnet.WasmModule(t, "examples/hello")
	j, err := runJSON(t, ds[0], "run", "wasm", hello, "--type", "ops", "--name", "ops")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range j.Receipts {
		seen[r.Executor] = true
	}
	if j.State != api.JobCompleted || len(j.Receipts) != 4 || len(seen) != 4 {
		for _, e := range j.Events {
			t.Logf("%s %s %s", e.Time.Format("05.000"), e.Type, e.Message)
		}
		for _, b := range j.Bids {
			t.Logf("bid from %s at %s", b.Peer, b.Received.Format("05.000"))
		}
		for _, d := range ds {
			t.Logf("node %s", d.ID)
		}
		t.Fatalf("ops job: %s, %d receipts from %d nodes", j.State, len(j.Receipts), len(seen))
	}
}

func TestJobBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("200 jobs")
	}
	ds := jobNet(t, 3)
	hello := testnet.WasmModule(t, "examples/hello")
	mod := addQ(t, ds[0], hello)
	for _, d := range ds[1:] {
		addQ(t, d, hello) // every requester holds the module
	}
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	executors := sync.Map{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d := ds[i%len(ds)]
			spec := fmt.Sprintf("name: burst-%d\nengine:\n  wasm:\n    module: %s\n    args: [\"%d\"]\n", i, mod, i)
			res, err := d.Client.Submit(ctx, []byte(spec), false)
			if err != nil {
				errs <- err
				return
			}
			final, err := d.Client.Events(ctx, res.ID, nil)
			if err != nil {
				errs <- err
				return
			}
			if final.State != api.JobCompleted || len(final.Receipts) != 1 {
				errs <- fmt.Errorf("job %d: %s (%s)", i, final.State, final.Error)
				return
			}
			executors.Store(final.Receipts[0].Executor, true)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A module CID naming an empty file fails the job with a reason that says
// so, not with the engine's task-contract error.
func TestJobEmptyModule(t *testing.T) {
	ds := jobNet(t, 1)
	empty := filepath.Join(t.TempDir(), "empty.wasm")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mod := addQ(t, ds[0], empty)
	j, err := runJSON(t, ds[0], "run", "wasm", mod, "--queue-timeout", "20s")
	if err == nil || j.State != api.JobFailed {
		t.Fatalf("job with an empty module: %v %+v", err, j)
	}
	if !strings.Contains(j.Error, "module "+mod+" is empty (0 bytes)") {
		t.Fatalf("error does not say the module is empty: %s", j.Error)
	}
}
