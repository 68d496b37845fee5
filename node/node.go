package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/shoalnet/shoal/internal/logging"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/bidding/workflow"
	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/exec/docker"
	"github.com/shoalnet/shoal/exec/wasm"
	"github.com/shoalnet/shoal/internal/metrics"
	"github.com/shoalnet/shoal/p2p"
)

var log = logging.Logger("node")

// Version is the software version, set by the linker in release builds.
var Version = "0.1.0-dev"

// Option adjusts how New builds a node beyond its Config.
type Option func(*options) error

type options struct {
	repoPath   string
	key        crypto.PrivKey
	psk        pnet.PSK
	datastore  ds.Batching
	host       host.Host
	bootstrap  []string
	dhtOpts    []dht.Option
	docker     []docker.Option
	wasmWorker wasm.WorkerCmd
}

// WithRepo builds the node from an opened repo: its identity, swarm key and
// datastore. The caller holds the repo's lock.
func WithRepo(r *Repo) Option {
	return func(o *options) error {
		o.repoPath, o.key, o.psk = r.Path, r.Key, r.PSK
		return nil
	}
}

// WithKey sets the identity of a node without a repo.
func WithKey(k crypto.PrivKey) Option {
	return func(o *options) error { o.key = k; return nil }
}

// WithDatastore sets the datastore (default: the repo's pebble store, or an
// in-memory one without a repo).
func WithDatastore(d ds.Batching) Option {
	return func(o *options) error { o.datastore = d; return nil }
}

// WithHost runs the node on an existing libp2p host (simulations use
// mocknet hosts). The node closes it on Close.
func WithHost(h host.Host) Option {
	return func(o *options) error { o.host = h; return nil }
}

// WithBootstrap adds bootstrap peers to those in the config.
func WithBootstrap(addrs ...string) Option {
	return func(o *options) error {
		if _, err := p2p.ParseBootstrap(addrs); err != nil {
			return err
		}
		o.bootstrap = append(o.bootstrap, addrs...)
		return nil
	}
}

// WithDHTOptions adds kad-dht options after the node's own (for example
// dht.DisableAutoRefresh() in simulations of hundreds of nodes, which then
// refresh explicitly, staggered). Without it the DHT is built as before.
func WithDHTOptions(opts ...dht.Option) Option {
	return func(o *options) error {
		o.dhtOpts = append(o.dhtOpts, opts...)
		return nil
	}
}

// Node is a running Shoal node.
type Node struct {
	// sealedRecords are the receipt records this node's executor sealed,
	// which its DHT validator does not verify again (node/memo.go).
	sealedRecords *bidding.SealedRecords
	cfg           *Config
	repoPath      string
	key           crypto.PrivKey
	psk           pnet.PSK
	docker        []docker.Option // see WithDockerOptions
	wasmWorker    wasm.WorkerCmd  // see WithWASMWorker

	Host   host.Host
	DHT    *dht.IpfsDHT
	PubSub *pubsub.PubSub
	Store  ds.Batching
	// Content is the node's block store, bitswap and UnixFS layer.
	Content *content.Store
	// Market runs the job protocol (requester and executor sides).
	Market *market.Market
	// parts drives the partitioned jobs this node submitted (partition.go).
	parts *partitions
	// Workflows runs the workflows this node submitted (workflow.go).
	Workflows *workflow.Runner
	// Metrics is the node's Prometheus registry and its shoal_* metrics
	// (GET /metrics; docs/metrics.md).
	Metrics *metrics.Metrics

	caps      *p2p.CapPublisher
	nat       *natState    // reachability, hole punches, relay counters (reach.go)
	guard     *guard       // trust and admission policy (policy.go)
	held      *heldImports // imports of url inputs bids count as local (held.go)
	bootstrap []peer.AddrInfo
	engines   []string
	started   time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	closers   []func() error // run in reverse order
}

// New builds and starts a node: host, DHT, gossipsub, capability publishing,
// bootstrap. It returns once the host listens; joining the network goes on in
// the background (see Ready).
func New(ctx context.Context, cfg *Config, opts ...Option) (n *Node, err error) {
	if cfg == nil {
		if cfg, err = DefaultConfig(ProfileLocal); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	bootAddrs := append(append([]string{}, cfg.Bootstrap...), o.bootstrap...)
	boot, err := p2p.ParseBootstrap(bootAddrs)
	if err != nil {
		return nil, err
	}
	if o.key == nil {
		if o.key, _, err = crypto.GenerateEd25519Key(nil); err != nil {
			return nil, err
		}
	}

	nctx, cancel := context.WithCancel(context.Background())
	n = &Node{cfg: cfg, repoPath: o.repoPath, key: o.key, psk: o.psk, docker: o.docker, wasmWorker: o.wasmWorker, bootstrap: boot, started: time.Now(), ctx: nctx, cancel: cancel,
		Metrics: metrics.New(), held: newHeldImports(maxHeldImports)}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	n.Store = o.datastore
	if n.Store == nil {
		if o.repoPath != "" {
			r := &Repo{Path: o.repoPath}
			pds, err := r.OpenDatastore()
			if err != nil {
				return nil, err
			}
			n.Store = pds
		} else {
			n.Store = dssync.MutexWrap(ds.NewMapDatastore())
		}
		n.closers = append(n.closers, n.Store.Close)
	}

	natCfg, err := n.natConfig(cfg)
	if err != nil {
		return nil, err
	}
	if o.host != nil {
		n.Host = o.host
	} else {
		n.Host, err = p2p.NewHost(p2p.HostConfig{
			NAT:           natCfg,
			Identity:      o.key,
			ListenAddrs:   cfg.Swarm.Listen,
			AnnounceAddrs: cfg.Swarm.Announce,
			PSK:           o.psk,
			ConnLowWater:  cfg.Swarm.ConnLow,
			ConnHighWater: cfg.Swarm.ConnHigh,
			ConnGrace:     cfg.Swarm.ConnGrace.D(),

			ProtocolLimits: protocolLimits(), // abuse.go
			Registerer:     n.Metrics.Registry(),
		})
		if err != nil {
			return nil, err
		}
	}
	n.closers = append(n.closers, n.Host.Close)
	if err := n.nat.watch(nctx, n.Host, &n.wg); err != nil {
		return nil, err
	}

	n.sealedRecords = &bidding.SealedRecords{}
	dhtOpts := append([]dht.Option{receiptValidator(bidding.NetworkID(o.psk), n.sealedRecords)}, o.dhtOpts...)
	n.DHT, err = p2p.NewDHT(n.Host, namespace.Wrap(n.Store, ds.NewKey("/dht")), boot, dhtOpts...)
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, n.DHT.Close)

	blockDir := "" // without a repo, every block stays in the datastore
	if n.repoPath != "" {
		blockDir = filepath.Join(n.repoPath, BlocksDir)
	}
	n.Content, err = content.New(nctx, content.Config{
		Host:                 n.Host,
		Datastore:            n.Store,
		BlockDir:             blockDir,
		Router:               n.DHT,
		FindProvidersTimeout: cfg.Content.FindProvidersTimeout.D(),
		ReprovideInterval:    cfg.Content.ReprovideInterval.D(),
		Logger:               logging.Logger("content"),
		HolePunchFailures:    n.nat.holePunches.Failures,
		OnUnpin:              n.held.forget,
	})
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, n.Content.Close)

	if n.guard, err = newGuard(n, cfg); err != nil {
		return nil, err
	}
	n.PubSub, err = p2p.NewPubSub(nctx, n.Host, n.guard.abuse.pubsubOptions()...)
	if err != nil {
		return nil, err
	}

	if cfg.Discovery.MDNS {
		svc := mdns.NewMdnsService(n.Host, "shoal", &mdnsNotifee{n: n})
		if err := svc.Start(); err != nil {
			return nil, fmt.Errorf("start mdns: %w", err)
		}
		n.closers = append(n.closers, svc.Close)
	}

	if err := n.startMarket(ctx); err != nil {
		return nil, err
	}
	n.parts = newPartitions(n)
	n.closers = append(n.closers, n.parts.Close)
	n.parts.resume()
	if err := n.startWorkflows(ctx); err != nil {
		return nil, err
	}
	n.Metrics.Observe(metrics.Sources{Load: n.Market.Load, FetchedBytes: n.Content.FetchedBytes, ProvidesQueued: n.Content.ProvidesQueued})
	n.guard.logPolicy(n.engines, "admission policy")
	n.caps = &p2p.CapPublisher{
		DHT:      n.DHT,
		Key:      o.key,
		Snapshot: n.capabilities,
		Refresh:  cfg.Capabilities.Refresh.D(),
		TTL:      cfg.Capabilities.TTL.D(),
	}

	peersSub, err := n.Host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, peersSub.Close)
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.joinNetwork(nctx) }()
	go func() { defer n.wg.Done(); n.caps.Run(nctx) }()
	go func() { defer n.wg.Done(); n.kickCapsOnPeers(nctx, peersSub) }()
	log.Info("node started", "peer", n.Host.ID(), "addrs", n.Host.Addrs())
	return n, nil
}

// kickCapsOnPeers republishes the capability record (soon, not at once:
// CapPublisher.Kick) when a peer connects or goes, so that the peers it
// lists, which draw the links of the dashboard's network map, stay
// current.
func (n *Node) kickCapsOnPeers(ctx context.Context, sub event.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-sub.Out():
			if !ok {
				return
			}
			n.caps.Kick()
		}
	}
}

// joinNetwork connects to the bootstrap peers, retrying until at least one
// answers, then fills the routing table.
func (n *Node) joinNetwork(ctx context.Context) {
	if len(n.bootstrap) == 0 {
		return
	}
	backoff := 250 * time.Millisecond
	for {
		ok, err := p2p.Connect(ctx, n.Host, n.bootstrap, 10*time.Second)
		if ctx.Err() != nil {
			return
		}
		if ok > 0 {
			if err != nil {
				log.Warn("some bootstrap peers unreachable", "err", err)
			}
			break
		}
		log.Warn("no bootstrap peer reachable yet", "err", err, "retry", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	select {
	case err := <-n.DHT.RefreshRoutingTable():
		if err != nil && ctx.Err() == nil {
			log.Debug("routing table refresh", "err", err)
		}
	case <-ctx.Done():
	}
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.Host.ID() }

// Config returns the node's configuration (do not modify).
func (n *Node) Config() *Config { return n.cfg }

// RepoPath is the repo directory, empty for an in-memory node.
func (n *Node) RepoPath() string { return n.repoPath }

// Key is the node's identity key.
func (n *Node) Key() crypto.PrivKey { return n.key }

// Context is cancelled when the node closes.
func (n *Node) Context() context.Context { return n.ctx }

// CapabilitiesPublished is closed once the node's capability record reached
// the DHT for the first time.
func (n *Node) CapabilitiesPublished() <-chan struct{} { return n.caps.Published() }

// FindNodes lists the nodes of the network matching q, from the DHT.
func (n *Node) FindNodes(ctx context.Context, q p2p.NodeQuery) ([]*p2p.Capabilities, error) {
	return p2p.FindNodes(ctx, n.DHT, q)
}

// FindNodesAtLeast repeats FindNodes with backoff until it lists at least
// min nodes or ctx ends; it returns the last list either way.
func (n *Node) FindNodesAtLeast(ctx context.Context, q p2p.NodeQuery, min int) ([]*p2p.Capabilities, error) {
	backoff := 50 * time.Millisecond
	for {
		nodes, err := p2p.FindNodes(ctx, n.DHT, q)
		if err == nil && len(nodes) >= min {
			return nodes, nil
		}
		select {
		case <-ctx.Done():
			return nodes, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min2(backoff*2, time.Second)
	}
}

func min2(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// WaitPeers blocks until at least min peers are connected or ctx ends. It
// wakes on connectedness events, not on a timer.
func (n *Node) WaitPeers(ctx context.Context, min int) error {
	sub, err := n.Host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return err
	}
	defer sub.Close()
	for len(n.Host.Network().Peers()) < min {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.Out():
		}
	}
	return nil
}

// capabilities is the snapshot published in the capability record.
func (n *Node) capabilities() p2p.Capabilities {
	c := p2p.Capabilities{
		Engines:  n.engines,
		CPU:      n.cfg.Capabilities.CPU,
		Memory:   n.cfg.Capabilities.Memory,
		Labels:   n.cfg.Capabilities.Labels,
		Software: "shoal/" + Version,
		Certs:    n.guard.Certs(),
	}
	if n.Market != nil {
		c.Load.Running, c.Load.Queued, c.Load.FreeSlots = n.Market.Load()
	}
	if c.CPU <= 0 {
		c.CPU = float64(runtime.NumCPU())
	}
	if c.Memory <= 0 {
		c.Memory = totalMemory()
	}
	dir := n.repoPath
	if dir == "" {
		dir = os.TempDir()
	}
	c.Disk = freeDisk(dir)
	for _, a := range n.Host.Addrs() {
		c.Addrs = append(c.Addrs, a.String())
	}
	c.Peers = n.Host.Network().Peers()
	slices.Sort(c.Peers)
	c.Peers = c.Peers[:min(len(c.Peers), p2p.MaxRecordPeers)]
	return c
}

// Close stops the node and releases everything it created. It is safe to call
// more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.wg.Wait()
		var errs []error
		for i := len(n.closers) - 1; i >= 0; i-- {
			if err := n.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

func (n *Node) wasmCacheDir() string {
	if n.repoPath == "" {
		return ""
	}
	return filepath.Join(n.repoPath, WasmCacheDir)
}

type mdnsNotifee struct{ n *Node }

func (m *mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == m.n.ID() {
		return
	}
	ctx, cancel := context.WithTimeout(m.n.ctx, 10*time.Second)
	defer cancel()
	if err := m.n.Host.Connect(ctx, ai); err != nil {
		log.Debug("mdns peer unreachable", "peer", ai.ID, "err", err)
	}
}

// Engines lists the execution engines this node can run.
func (n *Node) Engines() []string { return append([]string(nil), n.engines...) }

// Private reports whether the node is on a private network (swarm key).
func (n *Node) Private() bool { return n.psk != nil }
