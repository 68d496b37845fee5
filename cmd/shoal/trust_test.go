package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/bidding/trust"
	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/node/api"
	"github.com/shoalnet/shoal/p2p"
)

// Cross-organization trust on real daemons: org certificates, every
// refusal path of the admission policy, org constraints on executors,
// private swarms and a flood of announcements. docs/security.md is the
// reference for what is tested here.

// trustNet starts n daemons with docker off and short provider lookups.
func trustNet(t *testing.T, n int) []*testnet.Daemon {
	t.Helper()
	cfg := testnet.EditConfig(func(c *node.Config) {
		c.Content.FindProvidersTimeout = node.Duration(2 * time.Second)
		c.Jobs.DisableDocker = true
	})
	return testnet.Network(t, n, testnet.Options{Configure: cfg})
}

// trRun runs a CLI command on d and fails the test on error.
func trRun(t *testing.T, d *testnet.Daemon, args ...string) string {
	t.Helper()
	out, err := d.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// trSpec writes a job spec running the hello module and returns its path.
// extra is YAML appended at the top level (constraints, inputs, …).
func trSpec(t *testing.T, name, module, extra string) string {
	t.Helper()
	doc := fmt.Sprintf("name: %s\nengine:\n  wasm:\n    module: %s\n    args: [%q]\nqueue_timeout: 2m\n%s", name, module, name, extra)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// trSubmit submits a spec file on d and returns the job ID.
func trSubmit(t *testing.T, d *testnet.Daemon, spec string) string {
	t.Helper()
	return strings.TrimSpace(trRun(t, d, "job", "run", "--detach", spec))
}

// trPoll polls d's record of job until done says so, or fails after limit.
func trPoll(t *testing.T, d *testnet.Daemon, job string, limit time.Duration, done func(*api.Job) bool) *api.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		j, err := d.Client.Job(ctx, job)
		if err == nil && done(&j.Job) {
			return &j.Job
		}
		select {
		case <-ctx.Done():
			if j != nil && j.ID != "" {
				b, _ := json.MarshalIndent(j.Job, "", "  ")
				t.Fatalf("job %s: condition not met within %s:\n%s", job, limit, b)
			}
			t.Fatalf("job %s: condition not met within %s: %v", job, limit, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func trDone(t *testing.T, d *testnet.Daemon, job string) *api.Job {
	t.Helper()
	return trPoll(t, d, job, time.Minute, func(j *api.Job) bool { return j.State.Terminal() })
}

// trDecline waits until peer declined job on d, failing if it bid instead.
func trDecline(t *testing.T, d *testnet.Daemon, job, by string) api.Decline {
	t.Helper()
	var got api.Decline
	trPoll(t, d, job, 30*time.Second, func(j *api.Job) bool {
		for _, b := range j.Bids {
			if b.Peer == by {
				t.Fatalf("job %s: %s bid, want a decline", job, by)
			}
		}
		for _, x := range j.Declines {
			if x.Peer == by {
				got = x
				return true
			}
		}
		return false
	})
	return got
}

func shortID(p string) string { return p[:8] + "…" + p[len(p)-6:] }

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTrustAcrossOrgs runs three daemons: R, a requester and acme's admin
// node; A, an executor member of acme; B, a member of globex only. A's
// policy changes from case to case; R's certificates too.
func TestTrustAcrossOrgs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 daemons and runs jobs")
	}
	ds := trustNet(t, 3)
	r, a, b := ds[0], ds[1], ds[2]
	hello := testnet.WasmModule(t, "examples/hello")
	module := addQ(t, r, hello)
	certDir := t.TempDir()

	// Orgs: R administers acme; A is an acme executor and trusts acme; B
	// runs its own org, globex.
	out := trRun(t, r, "org", "init", "acme")
	acmeKey := strings.Fields(strings.Split(out, "\n")[1])[0]
	issue := func(role, to, expires string) string {
		t.Helper()
		f := filepath.Join(certDir, fmt.Sprintf("%s-%s-%d.cert", role, to[len(to)-6:], time.Now().UnixNano()))
		trRun(t, r, "org", "issue", "--org", "acme", "--role", role, "--expires", expires, to, "-o", f)
		return f
	}
	trRun(t, a, "org", "join", issue("executor", a.ID, "720h"))
	trRun(t, a, "org", "trust", "acme", acmeKey)
	trRun(t, b, "org", "init", "globex")
	gcert := filepath.Join(certDir, "globex.cert")
	trRun(t, b, "org", "issue", "--org", "globex", b.ID, "-o", gcert)
	trRun(t, b, "org", "join", gcert)
	requesterCert := issue("requester", r.ID, "720h")
	trRun(t, r, "org", "join", requesterCert)
	if out := trRun(t, a, "org", "list"); !strings.Contains(out, "acme") || !strings.Contains(out, "executor") {
		t.Fatalf("A's org list:\n%s", out)
	}

	// A forged acme certificate for R: right name, another key.
	rogue, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	rid, _ := peer.Decode(r.ID)
	forged, err := trust.Issue(rogue, "acme", rid, trust.RoleRequester, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forgedFile := writeFile(t, "forged.cert", forged.EncodePEM())

	// Inputs: 10 KiB that A holds (A can size it), and 10 KiB only R holds.
	onA := filepath.Join(t.TempDir(), "on-a")
	writeRandom(t, onA, 10<<10)
	inputOnA := addQ(t, a, onA)
	onR := filepath.Join(t.TempDir(), "on-r")
	writeRandom(t, onR, 10<<10+1)
	inputOnR := addQ(t, r, onR)

	onlyA := "constraints:\n  executors:\n    peers: [" + a.ID + "]\n"
	setPolicy := func(doc string) {
		t.Helper()
		trRun(t, a, "policy", "set", writeFile(t, "policy.json", []byte(doc)))
	}
	joinR := func(f string) func() { return func() { trRun(t, r, "org", "join", f) } }

	cases := []struct {
		name   string
		policy string
		setup  func()
		spec   string // extra YAML
		code   bidding.Code
		reason string
	}{
		{name: "not-allowed-peer", policy: `{"requesters":{"peers":["` + b.ID + `"]}}`,
			code: bidding.CodeRequesterDenied, reason: "requester " + shortID(r.ID) + " not in allowed peers"},
		{name: "not-in-org", policy: `{"requesters":{"orgs":["acme"]}}`, setup: func() { trRun(t, r, "org", "leave", "acme") },
			code: bidding.CodeRequesterDenied, reason: "requester not in allowed orgs [acme]: no certificate presented"},
		{name: "wrong-role", policy: `{"requesters":{"orgs":["acme"]}}`, setup: joinR(issue("executor", r.ID, "720h")),
			code: bidding.CodeRequesterDenied, reason: "requester not in allowed orgs [acme]: certificate for acme grants role executor, not requester"},
		{name: "forged-cert", policy: `{"requesters":{"orgs":["acme"]}}`, setup: joinR(forgedFile),
			code: bidding.CodeRequesterDenied, reason: "requester not in allowed orgs [acme]: certificate for acme is not signed by the key trusted for acme"},
		{name: "expired-cert", policy: `{"requesters":{"orgs":["acme"]}}`, setup: func() {
			trRun(t, r, "org", "join", issue("requester", r.ID, "1500ms"))
			time.Sleep(1600 * time.Millisecond)
		}, code: bidding.CodeRequesterDenied, reason: "requester not in allowed orgs [acme]: certificate for acme expired at"},
		{name: "revoked", policy: `{"requesters":{"orgs":["acme"]}}`, setup: func() {
			trRun(t, r, "org", "join", requesterCert)
			trRun(t, a, "org", "revoke", r.ID)
		}, code: bidding.CodeRequesterDenied, reason: "certificate for acme is revoked by this node's deny-list"},
		{name: "engine-not-allowed", policy: `{"engines":["docker"]}`, setup: func() { trRun(t, a, "org", "revoke", "--undo", r.ID) },
			code: bidding.CodeEngineDenied, reason: "engine wasm not allowed by this node's policy (allowed: docker)"},
		{name: "image-not-allowed", policy: `{"docker":{"images":["alpine:*"]}}`,
			code: bidding.CodeImageDenied, reason: "image evil/miner:1 not in this node's image allow-list [alpine:*]"},
		{name: "resources-over-ceiling", policy: `{"max_resources":{"memory":"64MiB"}}`,
			code: bidding.CodeResourcesExceeded, reason: "job asks memory 256MiB (ceiling 64MiB)"},
		{name: "input-too-large", policy: `{"max_input_size":"1KiB"}`, spec: "inputs:\n  - {cid: " + inputOnA + ", path: /in}\n",
			code: bidding.CodeInputTooLarge, reason: "exceeds this node's policy limit of 1KiB"},
		{name: "inputs-not-held", policy: `{"local_inputs_only":true}`, spec: "inputs:\n  - {cid: " + inputOnR + ", path: /in}\n",
			code: bidding.CodeInputsNotHeld, reason: "this node only runs jobs whose inputs it holds"},
	}

	t.Run("member-admitted", func(t *testing.T) {
		setPolicy(`{"requesters":{"orgs":["acme"]}}`)
		j := trDone(t, r, trSubmit(t, r, trSpec(t, "member-admitted", module, onlyA)))
		if j.State != api.JobCompleted || j.Receipts[0].Executor != a.ID {
			t.Fatalf("job %s on %v, want completed on A: %s", j.State, j.Receipts, j.Error)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setPolicy(tc.policy)
			if tc.setup != nil {
				tc.setup()
			}
			spec := trSpec(t, tc.name, module, onlyA+tc.spec)
			if tc.name == "image-not-allowed" {
				doc := fmt.Sprintf("name: %s\nengine:\n  docker:\n    image: evil/miner:1\nqueue_timeout: 2m\n%s", tc.name, onlyA)
				spec = writeFile(t, tc.name+".yaml", []byte(doc))
			}
			job := trSubmit(t, r, spec)
			d := trDecline(t, r, job, a.ID)
			if d.Code != string(tc.code) || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("A declined with %s %q, want %s %q", d.Code, d.Reason, tc.code, tc.reason)
			}
			// The requester shows the refusal in `shoal job describe`.
			desc := trRun(t, r, "job", "describe", job)
			want := fmt.Sprintf("declined by %s: %s", a.ID, d.Reason)
			if !strings.Contains(desc, want) || !strings.Contains(desc, "("+string(tc.code)+")") {
				t.Fatalf("describe does not show %q:\n%s", want, desc)
			}
			trRun(t, r, "job", "cancel", job)
		})
	}
	t.Run("rate-limit", func(t *testing.T) {
		trRun(t, r, "org", "join", requesterCert)
		setPolicy(`{"per_requester":{"jobs_per_minute":1}}`)
		j := trDone(t, r, trSubmit(t, r, trSpec(t, "rate-1", module, onlyA)))
		if j.State != api.JobCompleted {
			t.Fatalf("first job: %s %s", j.State, j.Error)
		}
		job := trSubmit(t, r, trSpec(t, "rate-2", module, onlyA))
		d := trDecline(t, r, job, a.ID)
		if d.Code != string(bidding.CodeRateLimited) || !strings.Contains(d.Reason, "started 1 job(s) here in the last minute") {
			t.Fatalf("second job: %s %q, want rate_limited", d.Code, d.Reason)
		}
		trRun(t, r, "job", "cancel", job)
	})
	t.Run("policy-show", func(t *testing.T) {
		out := trRun(t, a, "policy", "show")
		for _, want := range []string{"Per requester:", "at most 1 job(s) per minute", "Trusted orgs:", "acme"} {
			if !strings.Contains(out, want) {
				t.Fatalf("policy show lacks %q:\n%s", want, out)
			}
		}
		if !strings.Contains(a.Log(), `msg="admission policy"`) || !strings.Contains(a.Log(), `msg="admission policy changed"`) {
			t.Fatalf("the daemon did not log its policy:\n%.2000s", a.Log())
		}
	})

	// Memberships are presented in capability records too: R finds A's
	// executor certificate in the DHT (the fallback of awards).
	t.Run("capability-record", func(t *testing.T) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := r.Client.Nodes(context.Background(), "", nil, api.WaitOptions{Min: 3, Timeout: 10 * time.Second})
			if err == nil {
				for _, n := range res.Nodes {
					if n.Peer.String() != a.ID {
						continue
					}
					for _, raw := range n.Certs {
						if c, err := trust.DecodeCert(raw); err == nil && c.Org == "acme" && c.Role == trust.RoleExecutor && c.Peer.String() == a.ID {
							return
						}
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("A's capability record does not carry its acme certificate: %+v %v", res, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	// A job that requires acme executors never runs on B, although B holds
	// its input and bids first with the best locality: without the
	// constraint, B wins.
	t.Run("org-constraint", func(t *testing.T) {
		setPolicy(`{}`)
		data := filepath.Join(t.TempDir(), "data")
		writeRandom(t, data, 256<<10)
		input := addQ(t, b, data)
		in := "inputs:\n  - {cid: " + input + ", path: /in}\n"
		j := trDone(t, r, trSubmit(t, r, trSpec(t, "anyone", module, in)))
		if j.State != api.JobCompleted || j.Receipts[0].Executor != b.ID {
			t.Fatalf("unconstrained job: %s on %v, want B (the data holder)", j.State, j.Receipts)
		}
		j = trDone(t, r, trSubmit(t, r, trSpec(t, "acme-only", module, in+"constraints:\n  executors:\n    orgs: [acme]\n")))
		if j.State != api.JobCompleted || len(j.Receipts) != 1 || j.Receipts[0].Executor != a.ID {
			t.Fatalf("acme-only job: %s on %v (%s), want A", j.State, j.Receipts, j.Error)
		}
		for _, aw := range j.Awards {
			if aw.Executor != a.ID {
				t.Fatalf("acme-only job awarded to %s", aw.Executor)
			}
		}
		ignored := false
		for _, e := range j.Events {
			ignored = ignored || strings.Contains(e.Message, "bid from "+shortID(b.ID)+" ignored")
		}
		if !ignored || slices.ContainsFunc(j.Bids, func(x api.Bid) bool { return x.Peer == b.ID }) {
			t.Fatalf("B's bid was not ignored visibly: events %+v, bids %+v", j.Events, j.Bids)
		}
	})
}

// TestPrivateSwarm: nodes with the swarm key form a network and run jobs;
// a node without it cannot connect to them.
func TestPrivateSwarm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 daemons")
	}
	key := writeFile(t, "swarm.key", []byte(trRunBin(t, "swarm-key")))
	cfg := testnet.EditConfig(func(c *node.Config) {
		c.Content.FindProvidersTimeout = node.Duration(2 * time.Second)
		c.Jobs.DisableDocker = true
	})
	private := testnet.Network(t, 2, testnet.Options{Configure: cfg, InitArgs: []string{"--swarm-key", key}})
	k1, k2 := private[0], private[1]
	outsider := testnet.Start(t, testnet.Options{Configure: cfg, Bootstrap: []string{k1.TCPAddr()}})

	if !strings.Contains(k1.Log(), "QUIC switched off") {
		t.Fatalf("the daemon did not say QUIC is off under the swarm key:\n%.2000s", k1.Log())
	}
	if len(k1.Addrs) != 1 || !strings.Contains(k1.Addrs[0], "/tcp/") {
		t.Fatalf("a private node listens on %v, want TCP only", k1.Addrs)
	}
	if out := trRun(t, k1, "id"); !strings.Contains(out, "private") {
		t.Fatalf("shoal id does not say the network is private:\n%s", out)
	}
	// The outsider keeps retrying its bootstrap peer and never gets in.
	if _, err := outsider.Run("peers", "--wait", "1", "--timeout", "3s"); err == nil {
		t.Fatal("a node without the swarm key connected to the private network")
	}
	for _, d := range private {
		peers, err := d.Client.Peers(context.Background(), api.WaitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range peers {
			if p.ID == outsider.ID {
				t.Fatalf("%s is connected to the outsider", d.ID)
			}
		}
	}
	// Inside, jobs run across nodes.
	module := addQ(t, k1, testnet.WasmModule(t, "examples/hello"))
	j := trDone(t, k1, trSubmit(t, k1, trSpec(t, "private", module, "constraints:\n  executors:\n    peers: ["+k2.ID+"]\n")))
	if j.State != api.JobCompleted || j.Receipts[0].Executor != k2.ID {
		t.Fatalf("job in the private swarm: %s on %v (%s)", j.State, j.Receipts, j.Error)
	}
}

// trRunBin runs the shoal binary without a repo.
func trRunBin(t *testing.T, args ...string) string {
	t.Helper()
	d := &testnet.Daemon{Bin: testnet.Binary(t), Repo: t.TempDir()}
	out, err := d.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAnnouncementFlood: a peer publishes valid announcements as fast as
// it can for 10 s while another requester
// submits 50 jobs. All 50 complete, the flooder is scored down, and the
// victim's API stays responsive: the p99 latency of `shoal id` during the
// flood is logged (a measurement; the bound asserted is loose).
func TestAnnouncementFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods two daemons for 10 s")
	}
	const (
		floodFor = 10 * time.Second
		jobs     = 50
	)
	// Announcement limits a tenth of the defaults: under the race detector
	// on 2 cores the flooder only signs a few hundred announcements a
	// second, which the default allowance (sized for honest bursts of
	// thousands of jobs) would rightly tolerate.
	cfg := testnet.EditConfig(func(c *node.Config) {
		c.Content.FindProvidersTimeout = node.Duration(2 * time.Second)
		c.Jobs.DisableDocker = true
		c.Policy.Abuse.AnnouncesPerSecond = policy.DefaultAnnouncesPerSecond / 10
		c.Policy.Abuse.AnnounceBurst = policy.DefaultAnnounceBurst / 10
	})
	ds := testnet.Network(t, 2, testnet.Options{Configure: cfg})
	victim, other := ds[0], ds[1]
	module := addQ(t, victim, testnet.WasmModule(t, "examples/hello"))
	idLatency := func(n int) []time.Duration {
		var out []time.Duration
		for range n {
			start := time.Now()
			trRun(t, victim, "id")
			out = append(out, time.Since(start))
		}
		return out
	}
	baseline := idLatency(10)

	// The flooder: a plain libp2p host with gossipsub, no scoring of its own.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fkey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	fh, err := libp2p.New(libp2p.Identity(fkey), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fps, err := pubsub.NewGossipSub(ctx, fh, pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMaxMessageSize(p2p.MaxPubsubMessage), pubsub.WithPeerOutboundQueueSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := fps.Join(bidding.AnnounceTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		ai, err := peer.AddrInfoFromP2pAddr(ma.StringCast(d.TCPAddr()))
		if err != nil {
			t.Fatal(err)
		}
		if err := fh.Connect(ctx, *ai); err != nil {
			t.Fatal(err)
		}
	}
	for len(topic.ListPeers()) < 2 {
		time.Sleep(50 * time.Millisecond)
	}
	fid := fh.ID()

	var published atomic.Int64
	flooding := make(chan struct{})
	floodDone := make(chan struct{})
	go func() { // announcements, as fast as the flooder can sign them
		defer close(floodDone)
		fake := cid.MustParse("bafkreieptphnsbsubak6e3qofj7rppi2i5jzxkp5mt76q5frd3n3svjkka")
		for i := 0; ; i++ {
			select {
			case <-flooding:
				return
			default:
			}
			spec := &jobspec.Spec{Name: fmt.Sprintf("flood-%d", i), Engine: jobspec.Engine{Wasm: &jobspec.Wasm{Module: fake}}}
			a, err := bidding.NewAnnounce(spec, fid, nil, 1, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			data, err := bidding.Seal(fkey, a)
			if err != nil {
				t.Error(err)
				return
			}
			if topic.Publish(ctx, data) == nil {
				published.Add(1)
			}
		}
	}()

	// The victim submits 50 jobs during the flood while its API is timed.
	floodStart := time.Now()
	ids := make([]string, jobs)
	submitted := make(chan error, 1)
	go func() {
		for i := range ids {
			spec := fmt.Sprintf("name: victim-%d\nengine:\n  wasm:\n    module: %s\n    args: [\"%d\"]\n", i, module, i)
			res, err := victim.Client.Submit(ctx, []byte(spec), false)
			if err != nil {
				submitted <- err
				return
			}
			ids[i] = res.ID
		}
		submitted <- nil
	}()
	// The flood lasts floodFor at least, and until both daemons scored
	// the flooder below -200: on a loaded machine the flooder signs
	// slower and needs longer to pass its allowance (a bound fails the
	// test if it never does).
	flooderScore := func(d *testnet.Daemon) (node.PeerAbuse, bool) {
		var peers []node.PeerAbuse
		if err := json.Unmarshal([]byte(trRun(t, d, "policy", "peers", "--json")), &peers); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(peers, func(p node.PeerAbuse) bool { return p.Peer == fid.String() })
		if i < 0 {
			return node.PeerAbuse{}, false
		}
		return peers[i], true
	}
	scoredDown := func() bool {
		for _, d := range []*testnet.Daemon{victim, other} {
			if f, ok := flooderScore(d); !ok || f.Score > -200 {
				return false
			}
		}
		return true
	}
	var during []time.Duration
	lastCheck, scored := time.Now(), false
	for !scored && time.Since(floodStart) < 6*floodFor {
		during = append(during, idLatency(1)...)
		time.Sleep(50 * time.Millisecond)
		if time.Since(floodStart) >= floodFor && time.Since(lastCheck) >= 500*time.Millisecond {
			lastCheck = time.Now()
			scored = scoredDown()
		}
	}
	flooded := time.Since(floodStart)
	close(flooding)
	<-floodDone
	if err := <-submitted; err != nil {
		t.Fatal(err)
	}
	t.Logf("flooder published %d announcements in %s (%.0f/s)", published.Load(), flooded.Round(time.Millisecond), float64(published.Load())/flooded.Seconds())

	completedBy := time.Duration(0)
	for _, id := range ids {
		j := trDone(t, victim, id)
		if j.State != api.JobCompleted {
			t.Fatalf("job %s %s: %s", id, j.State, j.Error)
		}
		completedBy = max(completedBy, j.Updated.Sub(floodStart))
	}
	t.Logf("all %d jobs completed %s after submission started", jobs, completedBy.Round(time.Millisecond))

	p50, p99, mx := percentiles(baseline)
	t.Logf("shoal id before the flood: p50 %s, p99 %s, max %s (%d samples)", p50, p99, mx, len(baseline))
	p50, p99, mx = percentiles(during)
	t.Logf("shoal id during the flood: p50 %s, p99 %s, max %s (%d samples)", p50, p99, mx, len(during))
	if p99 > 3*time.Second {
		t.Errorf("p99 of shoal id during the flood is %s: the API is not responsive", p99)
	}

	// Both daemons scored the flooder down; the victim refused its streams.
	for _, d := range []*testnet.Daemon{victim, other} {
		var peers []node.PeerAbuse
		if err := json.Unmarshal([]byte(trRun(t, d, "policy", "peers", "--json")), &peers); err != nil {
			t.Fatal(err)
		}
		f, ok := flooderScore(d)
		if !ok {
			t.Fatalf("%s does not list the flooder: %+v", d.ID, peers)
		}
		t.Logf("%s sees the flooder: score %.0f, excess %.0f, %d announcements dropped", shortID(d.ID), f.Score, f.Excess, f.AnnouncesDropped)
		// Graylisted at -300, the flooder's RPCs are dropped unread; its
		// excess then decays, so its score hovers around the threshold
		// and rises once the flood stopped: it is asserted during the
		// flood (scored), its drops here.
		if !scored || f.AnnouncesDropped == 0 {
			t.Errorf("%s did not score the flooder down: %+v", d.ID, f)
		}
		for _, p := range peers {
			if p.Peer != fid.String() && p.Score < 0 {
				t.Errorf("%s scored an honest peer down: %+v", d.ID, p)
			}
		}
	}
}

func percentiles(ds []time.Duration) (p50, p99, mx time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99), s[len(s)-1]
}

// TestBidStreamRateLimit: a peer opening bid streams beyond its rate gets
// them reset before the handler reads them, and the node counts it.
func TestBidStreamRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon")
	}
	d := trustNet(t, 1)[0]
	trRun(t, d, "policy", "set", writeFile(t, "p.json", []byte(`{"abuse":{"bid_streams_per_second":1,"bid_stream_burst":5}}`)))
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ai, err := peer.AddrInfoFromP2pAddr(ma.StringCast(d.TCPAddr()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	const n = 30
	for range n {
		s, err := h.NewStream(ctx, ai.ID, bidding.ProtocolBid)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write([]byte{1}) // a frame header that never completes
		_ = s.CloseWrite()
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = s.Read(make([]byte, 1)) // reset (refused) or closed (bad message)
		_ = s.Close()
	}
	var peers []node.PeerAbuse
	if err := json.Unmarshal([]byte(trRun(t, d, "policy", "peers", "--json")), &peers); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(peers, func(p node.PeerAbuse) bool { return p.Peer == h.ID().String() })
	if i < 0 || peers[i].StreamsRefused < n-5-3 {
		t.Fatalf("streams refused: %+v, want about %d of %d", peers, n-5, n)
	}
	t.Logf("%d of %d bid streams refused (rate 1/s, burst 5)", peers[i].StreamsRefused, n)
}
