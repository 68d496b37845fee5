package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// Memoization and deterministic execution on real daemons
// (docs/protocol.md §9): a job computed anywhere in the network is a
// cache hit for a requester that never saw it, when it trusts the
// executor; otherwise, with --no-reuse, or when the receipt failed, the
// job runs again. Executions are counted on every executor.

// memoSpec writes a spec running module on exactly peer (extra: YAML
// appended at the top level) and returns its path.
func memoSpec(t *testing.T, name, module, peer string, args []string, extra string) string {
	t.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	doc := fmt.Sprintf("name: %s\nengine:\n  wasm:\n    module: %s\n    args: [%s]\nqueue_timeout: 2m\n", name, module, strings.Join(quoted, ", "))
	if peer != "" {
		doc += "constraints:\n  executors:\n    peers: [" + peer + "]\n"
	}
	doc += extra
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// executions reads every daemon's count of runs handed to an engine.
func executions(t *testing.T, ds []*testnet.Daemon) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, d := range ds {
		id, err := d.Client.ID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[d.ID] = id.Executions
	}
	return out
}

// waitLog waits until d's log has a line with every one of parts.
func waitLog(t testing.TB, d *testnet.Daemon, limit time.Duration, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, line := range strings.Split(d.Log(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q on %s within %s:\n%.3000s", parts, d.ID, limit, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hasEvent reports whether j's log has an event containing s.
func hasEvent(j *api.Job, s string) bool {
	for _, e := range j.Events {
		if strings.Contains(e.Message, s) {
			return true
		}
	}
	return false
}

func TestMemoAcrossNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 daemons and runs jobs")
	}
	ds := jobNetConfig(t, 4, 2*time.Second, publishAll, nil, []string{"role=worker"}, []string{"role=worker"}, nil)
	a, e, u, d := ds[0], ds[1], ds[2], ds[3]
	// A administers acme; E is an acme executor; U is in no org; D, the
	// requester that never saw the jobs, trusts acme.
	out := trRun(t, a, "org", "init", "acme")
	acmeKey := strings.Fields(strings.Split(out, "\n")[1])[0]
	cert := filepath.Join(t.TempDir(), "e.cert")
	trRun(t, a, "org", "issue", "--org", "acme", "--role", "executor", e.ID, "-o", cert)
	trRun(t, e, "org", "join", cert)
	trRun(t, d, "org", "trust", "acme", acmeKey)
	module := addQ(t, a, testnet.WasmModule(t, "internal/testnet/wasm/clock"))

	// runOnA computes a job on A's request and waits for its executor's
	// receipt record to be in the DHT.
	runOnA := func(spec string, exec *testnet.Daemon, want api.JobState) *api.Job {
		t.Helper()
		j := trDone(t, a, trSubmit(t, a, spec))
		if j.State != want || len(j.Receipts) != 1 || j.Receipts[0].Executor != exec.ID || j.Receipts[0].Reused {
			t.Fatalf("job on A: %s %+v (%s), want %s on %s", j.State, j.Receipts, j.Error, want, exec.ID)
		}
		waitLog(t, exec, time.Minute, "receipt record published", j.ID)
		return j
	}
	// runOn submits job by CID on req (it fetches the spec from the
	// network) and returns req's record and the executions it cost.
	runOn := func(req *testnet.Daemon, job string, flags ...string) (*api.Job, map[string]int64) {
		t.Helper()
		before := executions(t, ds)
		_, _ = req.Run(append(append([]string{"job", "run", "--quiet"}, flags...), "--cid", job)...)
		j := trDone(t, req, job)
		after := executions(t, ds)
		cost := map[string]int64{}
		for id, n := range after {
			if n != before[id] {
				cost[id] = n - before[id]
			}
		}
		return j, cost
	}
	runOnD := func(job string, flags ...string) (*api.Job, map[string]int64) {
		t.Helper()
		return runOn(d, job, flags...)
	}

	t.Run("hit", func(t *testing.T) {
		onA := runOnA(memoSpec(t, "memo-hit", module, e.ID, nil, ""), e, api.JobCompleted)
		start := time.Now()
		j, cost := runOnD(onA.ID)
		if j.State != api.JobCompleted || len(j.Receipts) != 1 || !j.Receipts[0].Reused {
			t.Fatalf("D's job: %s %+v (%s), want completed by a reused receipt", j.State, j.Receipts, j.Error)
		}
		if len(cost) != 0 {
			t.Fatalf("a memo hit executed on %v", cost)
		}
		got, want := j.Receipts[0], onA.Receipts[0]
		if got.Executor != e.ID || got.CID != want.CID || got.Outputs != want.Outputs || got.Stdout != want.Stdout || got.Stderr != want.Stderr {
			t.Fatalf("D's receipt %+v, want A's %+v", got, want)
		}
		desc := trRun(t, d, "job", "describe", onA.ID)
		if !strings.Contains(desc, "reused receipt of "+e.ID+" from "+want.Finished.UTC().Format(time.RFC3339)) {
			t.Fatalf("describe on D does not say the receipt was reused:\n%s", desc)
		}
		// The outputs come on demand, from the network.
		if o, err := d.Run("cat", got.Stdout); err != nil || !strings.HasPrefix(o, "time 2025-01-01T00:00:00") {
			t.Fatalf("D's stdout of the reused job = %q, %v", o, err)
		}
		t.Logf("memo hit on D in %s (including the CLI)", time.Since(start))

		// --no-reuse runs it afresh, on the same executor, with the same
		// results (the job is deterministic).
		j, cost = runOnD(onA.ID, "--no-reuse")
		if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Reused {
			t.Fatalf("D's --no-reuse job: %s %+v (%s), want a fresh run", j.State, j.Receipts, j.Error)
		}
		if cost[e.ID] != 1 || len(cost) != 1 {
			t.Fatalf("--no-reuse executed %v, want once on E", cost)
		}
		if r := j.Receipts[0]; r.CID == want.CID || r.Outputs != want.Outputs || r.Stdout != want.Stdout || r.Stderr != want.Stderr {
			t.Fatalf("fresh receipt %+v, want a new receipt with A's results %+v", r, want)
		}
	})

	t.Run("untrusted executor", func(t *testing.T) {
		onA := runOnA(memoSpec(t, "memo-untrusted", module, u.ID, nil, ""), u, api.JobCompleted)
		j, cost := runOnD(onA.ID)
		if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Reused {
			t.Fatalf("D's job: %s %+v, want a fresh run", j.State, j.Receipts)
		}
		if cost[u.ID] != 1 || len(cost) != 1 {
			t.Fatalf("executions %v, want one on U", cost)
		}
		if !hasEvent(j, "member of no org this node trusts") {
			t.Fatalf("D's log does not say why the receipt was not reused: %+v", j.Events)
		}
	})

	t.Run("failed receipt", func(t *testing.T) {
		onA := runOnA(memoSpec(t, "memo-failed", module, e.ID, []string{"exit=3"}, ""), e, api.JobFailed)
		j, cost := runOnD(onA.ID)
		if j.State != api.JobFailed || len(j.Receipts) != 1 || j.Receipts[0].Reused || j.Receipts[0].ExitCode != 3 {
			t.Fatalf("D's job: %s %+v, want a fresh failed run", j.State, j.Receipts)
		}
		if cost[e.ID] != 1 || len(cost) != 1 {
			t.Fatalf("executions %v, want one on E", cost)
		}
		if !hasEvent(j, "did not succeed") {
			t.Fatalf("D's log does not say the receipt failed: %+v", j.Events)
		}
	})

	// jobs.disable_memo on X, an acme executor too: its runs are not
	// published (D, which trusts acme, runs X's job afresh), and its own
	// jobs look nothing up (a job E computed runs again when X asks).
	t.Run("disable_memo", func(t *testing.T) {
		x := testnet.Start(t, testnet.Options{Bootstrap: []string{a.TCPAddr()}, Configure: testnet.EditConfig(func(c *node.Config) {
			c.Content.FindProvidersTimeout = node.Duration(2 * time.Second)
			c.Jobs.DisableDocker = true
			c.Jobs.DisableMemo = true
		})})
		ds = append(ds, x)
		xcert := filepath.Join(t.TempDir(), "x.cert")
		trRun(t, a, "org", "issue", "--org", "acme", "--role", "executor", x.ID, "-o", xcert)
		trRun(t, x, "org", "join", xcert)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, p := range []*testnet.Daemon{a, d, x} {
			if _, err := p.Client.Peers(ctx, api.WaitOptions{Min: len(ds) - 1, Timeout: 30 * time.Second, Topic: true}); err != nil {
				t.Fatalf("%s: %v", p.ID, err)
			}
		}

		onX := trDone(t, a, trSubmit(t, a, memoSpec(t, "memo-off-executor", module, x.ID, nil, "")))
		if onX.State != api.JobCompleted || len(onX.Receipts) != 1 || onX.Receipts[0].Executor != x.ID {
			t.Fatalf("job on X: %s %+v (%s)", onX.State, onX.Receipts, onX.Error)
		}
		waitLog(t, x, time.Minute, "receipt record not published", "jobs.disable_memo", onX.ID)
		j, cost := runOnD(onX.ID)
		if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Reused || cost[x.ID] != 1 {
			t.Fatalf("D's job of X's run: %s %+v, executions %v, want a fresh run on X", j.State, j.Receipts, cost)
		}

		onE := runOnA(memoSpec(t, "memo-off-requester", module, e.ID, nil, ""), e, api.JobCompleted)
		j, cost = runOn(x, onE.ID)
		if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Reused || cost[e.ID] != 1 {
			t.Fatalf("X's job of E's run: %s %+v, executions %v, want a fresh run on E", j.State, j.Receipts, cost)
		}
	})
}

// TestDeterministicAcrossNodes: one job on two executors (count 2) gives
// the same outputs, stdout and stderr CIDs although the module prints the
// wall-clock time and random bytes; with deterministic: false they differ,
// which shows the comparison can fail.
func TestDeterministicAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 daemons and runs jobs")
	}
	ds := jobNet(t, 3, nil, []string{"role=worker"}, []string{"role=worker"})
	a := ds[0]
	module := addQ(t, a, testnet.WasmModule(t, "internal/testnet/wasm/clock"))
	for _, tt := range []struct {
		name string
		det  string
		same bool
	}{
		{"deterministic (default)", "", true},
		{"not deterministic", "    deterministic: false\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := fmt.Sprintf("name: det-%t\ncount: 2\nengine:\n  wasm:\n    module: %s\n%sconstraints:\n  labels: {role: worker}\n", tt.same, module, tt.det)
			path := filepath.Join(t.TempDir(), "det.yaml")
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			j := trDone(t, a, trSubmit(t, a, path))
			if j.State != api.JobCompleted || len(j.Receipts) != 2 || j.Receipts[0].Executor == j.Receipts[1].Executor {
				t.Fatalf("job %s %+v (%s), want 2 receipts from 2 executors", j.State, j.Receipts, j.Error)
			}
			r0, r1 := j.Receipts[0], j.Receipts[1]
			same := r0.Outputs == r1.Outputs && r0.Stdout == r1.Stdout && r0.Stderr == r1.Stderr
			if same != tt.same {
				t.Fatalf("receipts %+v and %+v: equal results = %t, want %t", r0, r1, same, tt.same)
			}
		})
	}
}
