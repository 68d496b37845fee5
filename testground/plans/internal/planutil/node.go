// Package planutil is what Shoal's plans share: a Shoal node for the
// instance under whichever runner runs it (a mocknet host under sim, a TCP
// host on 127.0.x.y under local:exec, or in its namespace of local:exec's
// NAT topology, on the run's data networks under local:docker), the exchange of peer records over the sync service, the
// connection to a few peers with one staggered DHT refresh, and job
// helpers.
package planutil

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/exec/wasm"
	"github.com/shoalnet/shoal/internal/natnet"
	"github.com/shoalnet/shoal/node"
	"github.com/shoalnet/shoal/p2p"
	"github.com/shoalnet/shoal/testground/sdk/run"
	"github.com/shoalnet/shoal/testground/sdk/runtime"
	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
	"github.com/shoalnet/shoal/testground/simhost"
)

// EnvDataSubnets lists, for local:docker, the data networks (CIDRs, comma
// separated) whose addresses a node announces; default TEST_SUBNET.
const EnvDataSubnets = "SHOAL_SIM_DATA_SUBNETS"

// DockerPort is the swarm port of every instance under local:docker.
const DockerPort = 4001

// Options shape the node; CommonOptions reads them from the parameters
// every Shoal plan declares.
type Options struct {
	// Degree is how many peers each node dials (half on a ring of the
	// instances, half at random), so the network is connected.
	Degree int
	// Slots is how many jobs a node runs at once.
	Slots int
	// BidWindow bounds a requester's bid window (0: the product default).
	BidWindow time.Duration
	// RefreshSpread staggers the one DHT refresh of every node over this
	// long (auto-refresh is off in simulations).
	RefreshSpread time.Duration
	// Settle is a pause after the refresh for gossipsub meshes to form.
	Settle time.Duration
	// DHTBucketSize and DHTAlpha override kad-dht's k (20) and α (10)
	// when positive.
	DHTBucketSize, DHTAlpha int
	// Labels are the node's capability labels.
	Labels map[string]string
	// QueueLimit bounds the executor's queue (0: default).
	QueueLimit int
	// DialGroups, when set, replaces Degree: the node dials every
	// instance of these groups and no other (behind a NAT, only the
	// public segment can be dialled).
	DialGroups []string
}

// CommonOptions reads degree, slots, bid_window, refresh_spread, settle,
// dht_bucket_size and dht_alpha.
func CommonOptions(env *runtime.RunEnv) Options {
	return Options{
		Degree:        env.IntParam("degree"),
		Slots:         env.IntParam("slots"),
		BidWindow:     env.DurationParam("bid_window"),
		RefreshSpread: env.DurationParam("refresh_spread"),
		Settle:        env.DurationParam("settle"),
		DHTBucketSize: env.IntParam("dht_bucket_size"),
		DHTAlpha:      env.IntParam("dht_alpha"),
	}
}

// PeerRecord is what every instance publishes about itself.
type PeerRecord struct {
	Index int      `json:"index"`
	Seq   int64    `json:"seq"`
	Group string   `json:"group"`
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// AddrInfo converts the record.
func (r PeerRecord) AddrInfo() (peer.AddrInfo, error) {
	id, err := peer.Decode(r.ID)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	ai := peer.AddrInfo{ID: id}
	for _, a := range r.Addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return ai, err
		}
		ai.Addrs = append(ai.Addrs, m)
	}
	return ai, nil
}

// Node is an instance's Shoal node with its view of the run.
type Node struct {
	*node.Node
	Env  *runtime.RunEnv
	IC   *run.InitContext
	Sync tgsync.Client
	Opts Options
	// Self and Peers (indexed by instance index) are the published records.
	Self  PeerRecord
	Peers []PeerRecord
	// Dialled are the indices this node connected to.
	Dialled []int

	ctx    context.Context // the instance's, also cancelled when any instance aborts
	cancel context.CancelFunc
}

// Ctx is the instance's context, cancelled too when any instance failed
// (StateAbort), so no instance waits for one that is gone.
func (n *Node) Ctx() context.Context { return n.ctx }

// Close closes the node; it is safe to call twice.
func (n *Node) Close() error {
	n.cancel()
	return n.Node.Close()
}

// Start builds the node, exchanges peer records with every instance,
// connects, refreshes the DHT once (staggered) and waits for everyone.
func Start(env *runtime.RunEnv, ic *run.InitContext, opts Options) (*Node, error) {
	ctx, cancel := context.WithCancel(ic.Ctx)
	go func() {
		if ic.SyncClient.Barrier(ctx, StateAbort, 1) == nil {
			cancel()
		}
	}()
	n, err := start(ctx, env, ic, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	n.ctx, n.cancel = ctx, cancel
	return n, nil
}

// warmWasm creates and closes one wasm executor before any node does:
// wazero caches its version in a package variable on first use without
// synchronisation, which the race detector reports when many nodes of one
// process (the sim runner) create their runtimes at once.
var warmWasm sync.Once

func start(ctx context.Context, env *runtime.RunEnv, ic *run.InitContext, opts Options) (*Node, error) {
	warmWasm.Do(func() {
		if x, err := wasm.New(ctx); err == nil {
			_ = x.Close()
		}
	})
	cfg, err := node.DefaultConfig(node.ProfileLocal)
	if err != nil {
		return nil, err
	}
	cfg.Jobs.DisableDocker = true
	cfg.Jobs.Slots = opts.Slots
	cfg.Jobs.BidWindow = node.Duration(opts.BidWindow)
	cfg.Jobs.QueueLimit = opts.QueueLimit
	cfg.Capabilities.Labels = opts.Labels
	// The record is published once at start; a run is shorter than this.
	cfg.Capabilities.Refresh = node.Duration(30 * time.Minute)
	cfg.Capabilities.TTL = node.Duration(time.Hour)
	cfg.Content.ReprovideInterval = node.Duration(-1)
	cfg.Content.FindProvidersTimeout = node.Duration(20 * time.Second)

	dopts := []dht.Option{dht.DisableAutoRefresh()}
	if opts.DHTBucketSize > 0 {
		dopts = append(dopts, dht.BucketSize(opts.DHTBucketSize))
	}
	if opts.DHTAlpha > 0 {
		dopts = append(dopts, dht.Concurrency(opts.DHTAlpha))
	}
	nopts := []node.Option{node.WithDHTOptions(dopts...)}
	if p := simhost.From(ctx); p != nil {
		nopts = append(nopts, node.WithHost(p.Host), node.WithKey(p.Key))
	} else if env.NAT != "" {
		natConfig(env, cfg)
	} else {
		listen, announce, err := realAddrs(env)
		if err != nil {
			return nil, err
		}
		cfg.Swarm.Listen, cfg.Swarm.Announce = listen, announce
	}
	nd, err := node.New(ctx, cfg, nopts...)
	if err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	n := &Node{Node: nd, Env: env, IC: ic, Sync: ic.SyncClient, Opts: opts}
	if err := n.join(ctx); err != nil {
		nd.Close()
		return nil, err
	}
	return n, nil
}

// treatSharedSpace makes this process count the NAT topology's public
// segment as public, once, before its host is built.
var treatSharedSpace sync.Once

// natConfig configures a node in local:exec's NAT topology (env.NAT set)
// as internal/natlab configures its daemons: the shared address space
// counts as public in this process, the node listens on fixed TCP and
// QUIC ports of its namespace's address (one per instance, as a group's
// instances share the namespace), a public node offers the relay, a
// NAT'd one announces its LAN and relay addresses.
func natConfig(env *runtime.RunEnv, cfg *node.Config) {
	treatSharedSpace.Do(p2p.TreatSharedSpaceAsPublic)
	port := natnet.SwarmPort + env.InstanceIndex
	cfg.Swarm.Listen = []string{
		fmt.Sprintf("/ip4/%s/tcp/%d", env.ListenIP, port),
		fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", env.ListenIP, port),
	}
	// A public node says it is reachable, so its relay serves from the
	// start instead of once AutoNAT agreed. A site node is left to
	// AutoNAT (about 16 s here to find it private): forced private, it
	// asks its peer source for relays before it is connected to any, and
	// autorelay asks again only 30 s later. Test topology configuration,
	// like the rest of natConfig.
	if env.NAT == runtime.NATPublic {
		natnet.ConfigurePublic(cfg)
		cfg.Swarm.Reachability = p2p.ReachabilityPublic
		return
	}
	natnet.ConfigureSite(cfg)
}

// realAddrs picks listen and announce addresses outside the sim runner.
func realAddrs(env *runtime.RunEnv) (listen, announce []string, err error) {
	if env.ListenIP != "" { // local:exec
		return []string{fmt.Sprintf("/ip4/%s/tcp/0", env.ListenIP)}, nil, nil
	}
	subnets := os.Getenv(EnvDataSubnets)
	if subnets == "" {
		subnets = env.TestSubnet
	}
	if subnets == "" {
		return nil, nil, errors.New("no network to listen on: neither " + runtime.EnvListenIP + " nor " + runtime.EnvTestSubnet + " is set")
	}
	var nets []*net.IPNet
	for _, s := range strings.Split(subnets, ",") {
		_, n, err := net.ParseCIDR(strings.TrimSpace(s))
		if err != nil {
			return nil, nil, fmt.Errorf("data subnet %q: %w", s, err)
		}
		nets = append(nets, n)
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, nil, err
	}
	for _, a := range ifaddrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		for _, n := range nets {
			if n.Contains(ipn.IP) {
				announce = append(announce, fmt.Sprintf("/ip4/%s/tcp/%d", ipn.IP, DockerPort))
			}
		}
	}
	if len(announce) == 0 {
		return nil, nil, fmt.Errorf("no interface address in the data networks %s", subnets)
	}
	return []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DockerPort)}, announce, nil
}

// join publishes this node's record, collects everyone's, connects to
// Degree peers, refreshes the DHT once and waits at a barrier.
func (n *Node) join(ctx context.Context) error {
	env := n.Env
	total := env.TestInstanceCount
	n.Self = PeerRecord{Index: env.InstanceIndex, Seq: n.IC.GlobalSeq, Group: env.TestGroupID, ID: n.ID().String()}
	for _, a := range n.Host.Addrs() {
		n.Self.Addrs = append(n.Self.Addrs, a.String())
	}
	env.RecordMessage("node %s (instance %d) on %v", n.Self.ID, n.Self.Index, n.Self.Addrs)
	if _, err := n.Sync.Publish(ctx, "peers", n.Self); err != nil {
		return fmt.Errorf("publish peer record: %w", err)
	}
	recs, err := tgsync.Collect[PeerRecord](ctx, n.Sync, "peers", total)
	if err != nil {
		return err
	}
	n.Peers = make([]PeerRecord, total)
	for _, r := range recs {
		if r.Index < 0 || r.Index >= total {
			return fmt.Errorf("peer record with index %d out of range", r.Index)
		}
		n.Peers[r.Index] = r
	}
	n.Dialled = Neighbours(n.Self.Index, total, n.Opts.Degree)
	if len(n.Opts.DialGroups) > 0 {
		n.Dialled = nil
		for _, r := range n.Peers {
			if r.Index != n.Self.Index && slices.Contains(n.Opts.DialGroups, r.Group) {
				n.Dialled = append(n.Dialled, r.Index)
			}
		}
	}
	if err := n.ConnectTo(ctx, n.Dialled); err != nil {
		return err
	}
	if _, err := Wait(ctx, n.Sync, "connected", total); err != nil {
		return err
	}
	if n.Opts.RefreshSpread > 0 {
		wait := time.Duration(int64(n.Opts.RefreshSpread) * int64(n.Self.Index) / int64(max(total, 1)))
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	select {
	case <-n.DHT.RefreshRoutingTable():
	case <-rctx.Done():
	}
	cancel()
	if _, err := Wait(ctx, n.Sync, "refreshed", total); err != nil {
		return err
	}
	return sleep(ctx, n.Opts.Settle)
}

// ConnectTo connects to the instances with these indices (errors are
// joined; an unreachable peer does not stop the others).
func (n *Node) ConnectTo(ctx context.Context, indices []int) error {
	var errs []error
	for _, i := range indices {
		ai, err := n.Peers[i].AddrInfo()
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if err := n.Host.Connect(cctx, ai); err != nil {
			errs = append(errs, fmt.Errorf("connect to instance %d: %w", i, err))
		}
		cancel()
	}
	if len(errs) > 0 && len(errs) == len(indices) {
		return errors.Join(errs...)
	}
	return nil
}

// Neighbours returns the indices instance i dials: degree/2 successors on
// the ring of instances (so the network is connected) and the rest chosen
// at random, seeded by i.
func Neighbours(i, total, degree int) []int {
	if total <= 1 {
		return nil
	}
	degree = min(degree, total-1)
	set := map[int]bool{}
	for k := 1; k <= max(degree/2, 1) && len(set) < degree; k++ {
		set[(i+k)%total] = true
	}
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for len(set) < degree {
		j := r.IntN(total)
		if j != i {
			set[j] = true
		}
	}
	out := make([]int, 0, len(set))
	for j := range set {
		out = append(out, j)
	}
	sort.Ints(out)
	return out
}

// IndexOf returns the instance index of a peer ID string, or -1.
func (n *Node) IndexOf(id string) int {
	for _, r := range n.Peers {
		if r.ID == id {
			return r.Index
		}
	}
	return -1
}

// Finish waits at the "done" barrier for every instance, so no node leaves
// while others may still need it, then closes the node.
func (n *Node) Finish() error {
	err := n.Wait("done")
	n.Close()
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }
