package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
)

// Verification on real daemons (docs/protocol.md §10): a job run by
// several executors settles on a quorum of agreeing receipts; lying
// executors (the shoal_liar build, which flips a byte of every run's
// outputs: the one stand-in, for a fault an honest node cannot cause) are
// outvoted and lose reputation, and without a quorum the job fails
// unverified.

// verifyNet starts one daemon per entry of liars (true: the liar build),
// the first alone and the others bootstrapped to it, all connected.
func verifyNet(t *testing.T, liars ...bool) []*testnet.Daemon {
	t.Helper()
	cfg := testnet.EditConfig(func(c *node.Config) {
		c.Content.FindProvidersTimeout = node.Duration(2 * time.Second)
		c.Jobs.DisableDocker = true
		c.Jobs.BidWindow = node.Duration(2 * time.Second)
	})
	var ds []*testnet.Daemon
	for i, liar := range liars {
		o := testnet.Options{Configure: cfg}
		if liar {
			o.Bin = testnet.LiarBinary(t)
		}
		if i > 0 {
			o.Bootstrap = []string{ds[0].TCPAddr()}
		}
		ds = append(ds, testnet.Start(t, o))
	}
	waitPeers(t, ds, len(ds)-1)
	return ds
}

func waitPeers(t *testing.T, ds []*testnet.Daemon, min int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range ds {
		if _, err := d.Client.Peers(ctx, api.WaitOptions{Min: min, Timeout: 30 * time.Second, Topic: true}); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
	}
}

// verifyRun submits module on d with --verify n (extra: more flags) and
// returns the job ID.
func verifyRun(t *testing.T, d *testnet.Daemon, module, name string, n int, extra ...string) string {
	t.Helper()
	args := append([]string{"run", "wasm", module, "--detach", "--name", name, "--verify", fmt.Sprint(n)}, extra...)
	out := trRun(t, d, args...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func execFlags(ds ...*testnet.Daemon) []string {
	var out []string
	for _, d := range ds {
		out = append(out, "--executor-peer", d.ID)
	}
	return out
}

func receiptBy(t *testing.T, j *api.Job, exec string) api.Receipt {
	t.Helper()
	for _, r := range j.Receipts {
		if r.Executor == exec {
			return r
		}
	}
	t.Fatalf("no receipt of %s in %+v", exec, j.Receipts)
	return api.Receipt{}
}

// reputationOf reads d's reputation of peer p from `shoal policy peers`.
func reputationOf(t *testing.T, d *testnet.Daemon, p string) *node.PeerAbuse {
	t.Helper()
	var peers []node.PeerAbuse
	if err := json.Unmarshal([]byte(trRun(t, d, "policy", "peers", "--json")), &peers); err != nil {
		t.Fatal(err)
	}
	for i := range peers {
		if peers[i].Peer == p && peers[i].Reputation != nil {
			return &peers[i]
		}
	}
	return nil
}

// waitPinned waits until d pins c (a poll with a deadline).
func waitPinned(t *testing.T, d *testnet.Daemon, c string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		pins, err := d.Client.PinLs(context.Background())
		if err == nil && slices.ContainsFunc(pins, func(p api.PinEntry) bool { return p.CID == c }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not pinned on %s: %+v %v", c, d.ID, pins, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestVerifyOnFourNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 daemons and runs a verified job")
	}
	ds := verifyNet(t, false, false, false, false)
	a := ds[0]
	module := addQ(t, a, testnet.WasmModule(t, "internal/testnet/wasm/clock"))
	job := verifyRun(t, a, module, "verify-3", 3)
	j := trDone(t, a, job)
	if j.State != api.JobCompleted || len(j.Receipts) != 3 {
		t.Fatalf("job %s with %d receipts (%s), want completed with 3", j.State, len(j.Receipts), j.Error)
	}
	execs := map[string]bool{}
	for _, r := range j.Receipts {
		execs[r.Executor] = true
		if r.Outputs != j.Receipts[0].Outputs || r.Stdout != j.Receipts[0].Stdout || r.Stderr != j.Receipts[0].Stderr || r.ExitCode != 0 {
			t.Fatalf("receipts differ: %+v", j.Receipts)
		}
	}
	if len(execs) != 3 {
		t.Fatalf("3 receipts from %d executors: %+v", len(execs), j.Receipts)
	}
	v := j.Verification
	if v == nil || !v.Verified || v.Summary != "verified 3/3" || len(v.Agreeing) != 3 || v.Quorum != 2 || v.Replicas != 3 {
		t.Fatalf("verification %+v", v)
	}
	desc := trRun(t, a, "job", "describe", job)
	for _, want := range []string{"Verification: verified 3/3 (quorum 2 of 3 replicas)", "agreeing executors:", "result A (3) agreed", "replicas: 3"} {
		if !strings.Contains(desc, want) {
			t.Fatalf("describe lacks %q:\n%s", want, desc)
		}
	}
	// The requester pins the agreed outputs.
	out := j.Receipts[0].Outputs
	waitPinned(t, a, out)
	// Every executor's reputation counts the agreement.
	for id := range execs {
		if id == a.ID {
			continue
		}
		if r := reputationOf(t, a, id); r == nil || r.Reputation.Agreements != 1 || r.Reputation.Completed != 1 || r.Reputation.Disagreements != 0 {
			t.Fatalf("reputation of %s: %+v", id, r)
		}
	}

	if nodes := trRun(t, a, "nodes", "--wait", "3", "--timeout", "30s"); !strings.Contains(nodes, "REPUTATION") || !strings.Contains(nodes, "1 agreed, 0 disagreed") {
		t.Fatalf("shoal nodes does not show the executors' reputation:\n%s", nodes)
	}

	// The requester publishes the agreeing set; another node submitting
	// the same job reuses it: no execution anywhere, A's outputs.
	waitLog(t, a, time.Minute, "verified set published", job)
	d := ds[3]
	before := executions(t, ds)
	_, _ = d.Run("job", "run", "--quiet", "--cid", job)
	reused := trDone(t, d, job)
	if reused.State != api.JobCompleted || len(reused.Receipts) < 2 || !reused.Receipts[0].Reused || reused.Receipts[0].Outputs != out {
		t.Fatalf("D's job: %s %+v (%s), want completed by a reused verified set", reused.State, reused.Receipts, reused.Error)
	}
	if after := executions(t, ds); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a reused verified set executed: %v, was %v", after, before)
	}
	if !hasEvent(reused, "reused a verified set of 3 receipts (quorum 2)") || reused.Verification == nil || !reused.Verification.Verified {
		t.Fatalf("D's record: %+v %+v", reused.Verification, reused.Events)
	}
}

func TestVerifyLiars(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 5 daemons, two of them liars, and runs verified jobs")
	}
	ds := verifyNet(t, false, false, false, true, true)
	r, h1, h2, l1, l2 := ds[0], ds[1], ds[2], ds[3], ds[4]
	module := addQ(t, r, testnet.WasmModule(t, "internal/testnet/wasm/clock"))

	t.Run("liar outvoted", func(t *testing.T) {
		job := verifyRun(t, r, module, "liar-outvoted", 3, execFlags(h1, h2, l1)...)
		j := trDone(t, r, job)
		if j.State != api.JobCompleted || len(j.Receipts) != 3 {
			t.Fatalf("job %s, %d receipts (%s)", j.State, len(j.Receipts), j.Error)
		}
		honest := receiptBy(t, j, h1.ID).Outputs
		if receiptBy(t, j, h2.ID).Outputs != honest || receiptBy(t, j, l1.ID).Outputs == honest {
			t.Fatalf("outputs: %+v", j.Receipts)
		}
		v := j.Verification
		if v == nil || !v.Verified || v.Summary != "verified 2/3" || !slices.Contains(v.Agreeing, h1.ID) || !slices.Contains(v.Agreeing, h2.ID) || slices.Contains(v.Agreeing, l1.ID) {
			t.Fatalf("verification %+v", v)
		}
		for _, aw := range j.Awards {
			if aw.Executor == l1.ID && (aw.State != "outvoted" || aw.ErrorCode != "unverified") {
				t.Fatalf("liar's award %+v", aw)
			}
		}
		// The agreed outputs are pinned on the requester, the liar's never.
		waitPinned(t, r, honest)
		pins, err := r.Client.PinLs(context.Background())
		if err != nil || slices.ContainsFunc(pins, func(p api.PinEntry) bool { return p.CID == receiptBy(t, j, l1.ID).Outputs }) {
			t.Fatalf("the liar's outputs are pinned on the requester (%v): %+v", err, pins)
		}
		desc := trRun(t, r, "job", "describe", job)
		if !strings.Contains(desc, "result B (1) outvoted") || !strings.Contains(desc, honest) {
			t.Fatalf("describe:\n%s", desc)
		}
		rep := reputationOf(t, r, l1.ID)
		if rep == nil || rep.Reputation.Disagreements != 1 || rep.Reputation.Score >= 0 {
			t.Fatalf("liar's reputation %+v", rep)
		}
		if out := trRun(t, r, "policy", "peers"); !strings.Contains(out, "1 disagreed") {
			t.Fatalf("policy peers does not show the disagreement:\n%s", out)
		}
	})

	t.Run("liar ranks last", func(t *testing.T) {
		// Two replicas of three eligible executors: the liar bids, and is
		// ranked after both honest ones.
		job := verifyRun(t, r, module, "liar-ranks-last", 2, execFlags(h1, l1, h2)...)
		j := trDone(t, r, job)
		if j.State != api.JobCompleted {
			t.Fatalf("job %s (%s)", j.State, j.Error)
		}
		bid := false
		for _, b := range j.Bids {
			bid = bid || b.Peer == l1.ID
		}
		for _, aw := range j.Awards {
			if aw.Executor == l1.ID {
				t.Fatalf("the liar was awarded a replica: %+v", j.Awards)
			}
		}
		t.Logf("liar bid: %v, awards %+v", bid, j.Awards)
		if !bid {
			t.Logf("the liar's bid did not arrive within the window: the test shows nothing of ranking this time")
		}
	})

	t.Run("two liars: an extra replica", func(t *testing.T) {
		// H2 is down while H1 and both liars run the first 3 replicas: 3
		// results, no quorum, one more replica wanted; H2 comes back and
		// makes the quorum with H1.
		h2.Stop()
		job := verifyRun(t, r, module, "two-liars-extra", 3, execFlags(h1, l1, l2, h2)...)
		trPoll(t, r, job, 2*time.Minute, func(j *api.Job) bool { return hasEvent(j, "awarding 1 more replica") || j.State.Terminal() })
		if err := h2.Restart([]string{r.TCPAddr()}); err != nil {
			t.Fatal(err)
		}
		j := trPoll(t, r, job, 2*time.Minute, func(j *api.Job) bool { return j.State.Terminal() })
		if j.State != api.JobCompleted || len(j.Receipts) != 4 {
			t.Fatalf("job %s, %d receipts (%s)", j.State, len(j.Receipts), j.Error)
		}
		if v := j.Verification; v == nil || !v.Verified || v.Summary != "verified 2/4" || !slices.Contains(v.Agreeing, h2.ID) || !slices.Contains(v.Agreeing, h1.ID) ||
			receiptBy(t, j, h2.ID).Outputs != receiptBy(t, j, h1.ID).Outputs {
			t.Fatalf("verification %+v, receipts %+v", v, j.Receipts)
		}
	})

	t.Run("two liars of three: unverified", func(t *testing.T) {
		job := verifyRun(t, r, module, "two-liars-unverified", 3, append(execFlags(h1, l1, l2), "--queue-timeout", "20s")...)
		j := trPoll(t, r, job, 2*time.Minute, func(j *api.Job) bool { return j.State.Terminal() })
		if j.State != api.JobFailed || j.ErrorCode != "unverified" || len(j.Receipts) != 3 {
			t.Fatalf("job %s %s, %d receipts (%s)", j.State, j.ErrorCode, len(j.Receipts), j.Error)
		}
		if !hasEvent(j, "awarding 1 more replica") {
			t.Fatalf("no extra replica was sought: %+v", j.Events)
		}
		v := j.Verification
		if v == nil || v.Verified || len(v.Groups) != 3 || v.Summary != "unverified 1/3" {
			t.Fatalf("verification %+v", v)
		}
		desc := trRun(t, r, "job", "describe", job)
		for _, want := range []string{"Verification: unverified 1/3", "result A (1)", "result B (1)", "result C (1)", receiptBy(t, j, l1.ID).Outputs, receiptBy(t, j, l2.ID).Outputs, receiptBy(t, j, h1.ID).Outputs} {
			if !strings.Contains(desc, want) {
				t.Fatalf("describe lacks %q:\n%s", want, desc)
			}
		}
	})

	t.Run("reputation survives a restart and refuse_disagreement_days refuses the liar", func(t *testing.T) {
		r.Stop()
		if err := testnet.EditConfig(func(c *node.Config) { c.Jobs.RefuseDisagreementDays = 30 })(r.Repo); err != nil {
			t.Fatal(err)
		}
		if err := r.Restart([]string{h1.TCPAddr()}); err != nil {
			t.Fatal(err)
		}
		waitPeers(t, []*testnet.Daemon{r}, 3)
		rep := reputationOf(t, r, l1.ID)
		if rep == nil || rep.Reputation.Disagreements < 1 || rep.Reputation.LastDisagreement.IsZero() {
			t.Fatalf("liar's reputation after a restart: %+v", rep)
		}
		out := trRun(t, r, "run", "wasm", module, "--detach", "--name", "refused-liar", "--queue-timeout", "8s", "--executor-peer", l1.ID)
		job := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
		j := trPoll(t, r, job, time.Minute, func(j *api.Job) bool { return j.State.Terminal() })
		if j.State != api.JobFailed || j.ErrorCode != "no_executor" || len(j.Awards) != 0 {
			t.Fatalf("job %s %s with awards %+v (%s), want no_executor and no award", j.State, j.ErrorCode, j.Awards, j.Error)
		}
		if !hasEvent(j, "ignored: a verified job outvoted its receipt") {
			t.Fatalf("no event says the liar's bid was refused: %+v", j.Events)
		}
	})
}

// TestVerifyDistinctOrgs: with distinct: org the replicas go to distinct
// organizations although the best bids are of one: A and B (acme) hold
// the module, C (beta) does not; two replicas run on one of A, B and on C.
func TestVerifyDistinctOrgs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 daemons and runs verified jobs")
	}
	ds := verifyNet(t, false, false, false, false)
	r, a, b, c := ds[0], ds[1], ds[2], ds[3]
	certs := t.TempDir()
	for _, org := range []string{"acme", "beta"} {
		trRun(t, r, "org", "init", org)
	}
	for i, x := range []struct {
		d   *testnet.Daemon
		org string
	}{{a, "acme"}, {b, "acme"}, {c, "beta"}} {
		f := fmt.Sprintf("%s/%d.cert", certs, i)
		trRun(t, r, "org", "issue", "--org", x.org, "--role", "executor", x.d.ID, "-o", f)
		trRun(t, x.d, "org", "join", f)
	}
	path := testnet.WasmModule(t, "internal/testnet/wasm/clock")
	module := addQ(t, r, path)
	addQ(t, a, path)
	addQ(t, b, path)
	for i := range 2 {
		job := verifyRun(t, r, module, fmt.Sprintf("distinct-org-%d", i), 2, append(execFlags(a, b, c), "--verify-distinct", "org")...)
		j := trDone(t, r, job)
		if j.State != api.JobCompleted || len(j.Receipts) != 2 {
			t.Fatalf("job %s, %d receipts (%s)", j.State, len(j.Receipts), j.Error)
		}
		var acme, beta int
		for _, rc := range j.Receipts {
			switch rc.Executor {
			case a.ID, b.ID:
				acme++
			case c.ID:
				beta++
			}
		}
		if acme != 1 || beta != 1 {
			t.Fatalf("replicas on %d acme and %d beta executors, want one each: %+v", acme, beta, j.Receipts)
		}
	}
}
