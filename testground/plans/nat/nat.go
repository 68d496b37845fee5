// Package nat is the NAT plan: one public node (role relay: bootstrap and
// circuit relay) and two NAT'd sites, the holder and the requester. Both
// sites dial only the public group and wait for a relay reservation; the
// holder adds a dataset, the requester submits a job over it with
// locality required, so the job must run at the holder. The requester
// reaches the holder through the relay, DCUtR upgrades the connection
// (behind endpoint-independent NATs) and the requester fetches the
// outputs over the direct connection.
//
// Each instance judges what it saw: the requester the placement and the
// connection, the holder the connection, the relay the bytes it carried.
// Metrics: direct (0/1), first_direct_ms (job submission to the first
// direct requester↔holder connection), placed_at_holder (0/1), job_ms,
// relay_kib and relay_circuits, hole_punches.
//
// The NAT topology is local:exec's ([global.run_config.nat] in the
// composition); the plan itself only reads its parameters and the
// environment contract, as any Testground plan.
package nat

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/p2p"
	"github.com/shoalnet/shoal/testground/plans/internal/planutil"
	"github.com/shoalnet/shoal/testground/sdk/run"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// Manifest is the plan's manifest.toml.
//
//go:embed manifest.toml
var Manifest []byte

// TestCases are the plan's cases.
var TestCases = run.TestCases{"default": planutil.Guard(Run)}

// Roles, the role parameter.
const (
	RoleRelay     = "relay"
	RoleHolder    = "holder"
	RoleRequester = "requester"
)

// dataset is what the holder publishes on the sync service.
type dataset struct {
	CID    string `json:"cid"`
	Holder string `json:"holder"`
}

// Run is the default case.
func Run(env *runtime.RunEnv, ic *run.InitContext) error {
	role := env.StringParam("role")
	switch role {
	case RoleRelay, RoleHolder, RoleRequester:
	default:
		return fmt.Errorf("role %q: want %s, %s or %s", role, RoleRelay, RoleHolder, RoleRequester)
	}
	opts := planutil.CommonOptions(env)
	if role != RoleRelay {
		// Behind a NAT only the public segment can be dialled.
		opts.DialGroups = []string{env.StringParam("relay_group")}
	}
	env.RecordMessage("role %s, NAT %q, listening on %s", role, env.NAT, env.ListenIP)
	n, err := planutil.Start(env, ic, opts)
	if err != nil {
		return err
	}
	defer n.Close()
	ctx := n.Ctx()
	switch role {
	case RoleRelay:
		err = relay(ctx, n)
	case RoleHolder:
		err = holder(ctx, n)
	default:
		err = requester(ctx, n)
	}
	if ferr := n.Finish(); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

func relay(ctx context.Context, n *planutil.Node) error {
	env := n.Env
	// The relay holds the job's module too (the same bytes give the same
	// CID): behind symmetric NATs the holder cannot fetch it from the
	// requester.
	if _, err := n.AddModule(ctx, 0, "nat\n"); err != nil {
		return err
	}
	if err := n.Wait("ready"); err != nil {
		return err
	}
	if err := n.Wait("job-done"); err != nil {
		return err
	}
	st := n.RelayStats()
	env.RecordPoint("relay_kib", float64(st.Bytes)/1024)
	env.RecordPoint("relay_circuits", float64(st.Circuits))
	env.RecordMessage("relay: %d bytes in %d circuits, %d reservations (service active: %v)", st.Bytes, st.Circuits, st.Reservations, st.Active)
	var errs []error
	if !st.Active || st.Reservations == 0 {
		errs = append(errs, fmt.Errorf("the relay service took no reservation (active %v): the sites were not private or did not find the relay", st.Active))
	}
	if limit := int64(env.IntParam("max_relay_bytes")); st.Bytes > limit {
		errs = append(errs, fmt.Errorf("%d bytes crossed the relay, more than max_relay_bytes=%d: data went over the relay", st.Bytes, limit))
	}
	return errors.Join(errs...)
}

func holder(ctx context.Context, n *planutil.Node) error {
	env := n.Env
	if err := waitRelayed(ctx, n); err != nil {
		return err
	}
	b := make([]byte, env.IntParam("dataset_bytes"))
	_, _ = rand.Read(b)
	c, err := n.AddBytes(ctx, b)
	if err != nil {
		return err
	}
	// Provided now, with the relay address in the peerstores of the DHT
	// servers, so that the requester's lookup finds a way to this node.
	if err := n.Content.Provide(ctx, c); err != nil {
		return fmt.Errorf("provide the dataset: %w", err)
	}
	if _, err := n.Sync.Publish(ctx, "dataset", dataset{CID: c.String(), Holder: n.ID().String()}); err != nil {
		return err
	}
	env.RecordMessage("dataset %s (%d bytes) added and provided", c, len(b))
	if err := n.Wait("ready"); err != nil {
		return err
	}
	if err := n.Wait("job-done"); err != nil {
		return err
	}
	var req peer.ID
	for _, r := range n.Peers {
		if id, err := peer.Decode(r.ID); err == nil && r.Index != n.Self.Index && r.Group != env.StringParam("relay_group") {
			req = id
		}
	}
	return judgeConn(ctx, n, req, "requester")
}

func requester(ctx context.Context, n *planutil.Node) error {
	env := n.Env
	module, err := n.AddModule(ctx, 0, "nat\n")
	if err != nil {
		return err
	}
	if err := waitRelayed(ctx, n); err != nil {
		return err
	}
	if err := n.Wait("ready"); err != nil {
		return err
	}
	ds, err := tgsync.Collect[dataset](ctx, n.Sync, "dataset", 1)
	if err != nil {
		return err
	}
	data, err := cid.Decode(ds[0].CID)
	if err != nil {
		return err
	}
	holderID, err := peer.Decode(ds[0].Holder)
	if err != nil {
		return err
	}
	direct := watchDirect(n, holderID)
	defer direct.stop()

	spec := planutil.Spec("nat-"+env.TestRun, module, []cid.Cid{data})
	spec.Constraints.Locality = jobspec.Required
	jctx, cancel := context.WithTimeout(ctx, env.DurationParam("job_timeout"))
	o, err := n.RunJob(jctx, spec)
	cancel()
	var errs []error
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("the job over the holder's data did not end: %w", err))
	case !o.Completed():
		errs = append(errs, fmt.Errorf("the job ended %s", o.Job.State))
	}
	placed := o != nil && o.Executor == holderID.String()
	env.RecordPoint("placed_at_holder", b2f(placed))
	if o != nil {
		env.RecordMessage("job %s: executor %s (holder %s), %s", o.ID, o.Executor, holderID, o.Latency.Round(time.Millisecond))
		if o.Completed() {
			env.RecordPoint("job_ms", planutil.Ms(o.Latency))
		} else {
			n.LogJob(o.ID)
		}
		if !placed && err == nil {
			errs = append(errs, fmt.Errorf("the job ran at %q, not at the holder %s of its input (locality required)", o.Executor, holderID))
		}
	}
	if placed && o.Completed() && env.BooleanParam("expect_direct") {
		// The outputs come over the direct connection: bitswap never
		// uses a relayed one.
		r := o.Job.Receipts[0]
		for _, s := range []string{r.Stdout, r.Outputs} {
			c, err := cid.Decode(s)
			if err != nil {
				continue // not captured
			}
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err = n.Content.Fetch(fctx, c, content.FetchOptions{})
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("fetching the job's outputs %s from the holder: %w", c, err))
			}
		}
	}
	if at := direct.first(); !at.IsZero() {
		env.RecordPoint("first_direct_ms", planutil.Ms(at.Sub(o.Submitted)))
	}
	errs = append(errs, judgeConn(ctx, n, holderID, "holder"))
	if err := n.Wait("job-done"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// judgeConn records whether this node's connection to p is direct and
// its hole-punch attempts with p, and checks the connection against
// expect_direct. While the connection is still relayed it first waits for
// a hole punch with p to end (DCUtR runs in the background after the
// relayed connection opened), at most punch_wait.
func judgeConn(ctx context.Context, n *planutil.Node, p peer.ID, name string) error {
	env := n.Env
	wctx, cancel := context.WithTimeout(ctx, env.DurationParam("punch_wait"))
	defer cancel()
	for p2p.ConnType(n.Host, p) != p2p.ConnDirect && !punchEnded(n, p) {
		changed := n.HolePunchesChanged()
		if punchEnded(n, p) {
			break
		}
		select {
		case <-changed:
			continue
		case <-wctx.Done():
		}
		env.RecordMessage("no hole punch with the %s ended within punch_wait=%s", name, env.DurationParam("punch_wait"))
		break
	}
	ct := p2p.ConnType(n.Host, p)
	env.RecordPoint("direct", b2f(ct == p2p.ConnDirect))
	punches := 0
	for _, h := range n.HolePunches() {
		if h.Peer != p {
			continue
		}
		punches++
		env.RecordMessage("%s with the %s: attempt %d success=%v after %s %s", h.Kind, name, h.Attempt, h.Success, h.Took.Round(time.Millisecond), h.Error)
	}
	env.RecordPoint("hole_punches", float64(punches))
	env.RecordMessage("connection to the %s %s: %s", name, p, ct)
	want := env.BooleanParam("expect_direct")
	switch {
	case want && ct != p2p.ConnDirect:
		return fmt.Errorf("the connection to the %s is %s, want direct (a hole punch behind endpoint-independent NATs)", name, ct)
	case !want && ct == p2p.ConnDirect:
		return fmt.Errorf("the connection to the %s became direct, but expect_direct=false (symmetric NATs cannot be punched: is the NAT symmetric?)", name)
	}
	return nil
}

// punchEnded reports whether this node recorded the end of a hole punch
// with p, whatever its outcome.
func punchEnded(n *planutil.Node, p peer.ID) bool {
	for _, h := range n.HolePunches() {
		if h.Peer == p && h.Kind == "hole_punch" {
			return true
		}
	}
	return false
}

// waitRelayed waits until the node advertises a /p2p-circuit address:
// AutoNAT found it private and it reserved a slot on the relay.
func waitRelayed(ctx context.Context, n *planutil.Node) error {
	start := time.Now()
	sub, err := n.Host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		return err
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(ctx, n.Env.DurationParam("relay_timeout"))
	defer cancel()
	for {
		for _, a := range n.Host.Addrs() {
			if p2p.IsRelayAddr(a) {
				n.Env.RecordPoint("relayed_ms", planutil.Ms(time.Since(start)))
				n.Env.RecordMessage("relay reservation: advertising %s", a)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			reach, _, unreachable := n.Reachability()
			return fmt.Errorf("no relay reservation after %s (reachability %s, unreachable %v, addrs %v): %w", time.Since(start).Round(time.Millisecond), reach, unreachable, n.Host.Addrs(), ctx.Err())
		case <-sub.Out():
		}
	}
}

// directWatch notes the first direct connection to a peer.
type directWatch struct {
	net network.Network
	nb  *network.NotifyBundle
	mu  sync.Mutex
	at  time.Time
}

func watchDirect(n *planutil.Node, p peer.ID) *directWatch {
	w := &directWatch{net: n.Host.Network()}
	w.nb = &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if c.RemotePeer() != p || p2p.ConnTypeOf(c) != p2p.ConnDirect {
			return
		}
		w.mu.Lock()
		if w.at.IsZero() {
			w.at = time.Now()
		}
		w.mu.Unlock()
	}}
	w.net.Notify(w.nb)
	return w
}

func (w *directWatch) first() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at
}

func (w *directWatch) stop() { w.net.StopNotify(w.nb) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
