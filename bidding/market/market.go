package market

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Defaults of Config.
const (
	// DefaultQueueLimit is how many accepted jobs may wait for a slot.
	DefaultQueueLimit = 10000
	// DefaultProviderAsk bounds the DHT lookup of input providers that are
	// asked directly.
	DefaultProviderAsk = 2 * time.Second
	// maxSpecFetch bounds fetching a spec block that was not inline.
	maxSpecFetch = 10 * time.Second
)

// Config is what a Market needs.
type Config struct {
	Host    host.Host
	Key     crypto.PrivKey
	PubSub  *pubsub.PubSub
	Store   ds.Batching // the node's datastore; the market uses /jobs and /awards
	Content Content
	Runner  Runner
	// Labels are matched against constraints.labels.
	Labels map[string]string
	// Capacity is the most the node gives to jobs in total (and to one job).
	Capacity jobspec.Resources
	// Slots is how many jobs run at once (default: number of CPUs).
	Slots int
	// QueueLimit is how many accepted jobs may wait (default DefaultQueueLimit).
	QueueLimit int
	// MaxInputBytes bounds a job's inputs together (0: no limit): bids are
	// refused for inputs whose recorded size is larger, and the executor's
	// fetch stops once the bytes received pass it (the node's
	// jobs.max_input_bytes). A docker image tarball has a bound of its own
	// of the same size.
	MaxInputBytes int64
	// WorkDir holds the per-run directories (default os.TempDir()).
	WorkDir string
	// BidWindow bounds the bid window (default bidding.DefaultBidWindow).
	BidWindow time.Duration
	// Trust presents and resolves org memberships (nil: none; see gate.go).
	Trust Trust
	// Policy is the operator's admission policy and abuse limits (nil:
	// open; see gate.go).
	Policy Policy
	// PublishGrace is how long past accept + spec.timeout the requester
	// follows an award before it cancels it and fails over (default
	// bidding.PublishGrace).
	PublishGrace time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Market runs both sides of the job protocol on one node.
type Market struct {
	cfg  Config
	self peer.ID
	log  *slog.Logger

	topic *pubsub.Topic
	sub   *pubsub.Subscription

	jobs   *JobStore
	awards *awardStore
	res    *bidding.Reservations
	dedup  *bidding.Dedup
	// cancels: awards cancelled before they arrived (executor)
	cancels earlyCancels
	// req is the requester's side (its jobs' loops and bid sinks).
	req requester

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	answers map[answerKey]time.Time        // bidder: announces already answered
	execs   map[bidding.AwardID]*execution // executor: live runs
	queue   chan *execution                // executor: accepted, waiting for a slot
	running int                            // executor: runs holding a slot
	queued  int                            // executor: runs waiting for a slot
	avgRun  time.Duration                  // executor: moving average run time

	announceSlots chan struct{} // bidder: gossip announcements in progress
	announceDrops atomic.Int64  // bidder: announcements dropped (slots full)
	dropLogged    atomic.Int64  // unix ns of the last log of drops

	closeOnce sync.Once
}

type answerKey struct {
	job     cid.Cid
	attempt int
}

// New starts the market: it joins the announcement topic, registers the
// stream handlers, resumes jobs in flight and starts the executor's workers.
func New(ctx context.Context, cfg Config) (*Market, error) {
	if cfg.Host == nil || cfg.Key == nil || cfg.PubSub == nil || cfg.Store == nil || cfg.Content == nil || cfg.Runner == nil {
		return nil, errors.New("market: Host, Key, PubSub, Store, Content and Runner are required")
	}
	if cfg.Slots <= 0 {
		cfg.Slots = runtime.NumCPU()
	}
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = os.TempDir()
	}
	if cfg.BidWindow <= 0 {
		cfg.BidWindow = bidding.DefaultBidWindow
	}
	if cfg.PublishGrace <= 0 {
		cfg.PublishGrace = bidding.PublishGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("pkg", "market")
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("market: work dir: %w", err)
	}
	// The engines refuse mount sources under a symlink; the work directory
	// is the node's own, so resolve it once here (a repo may be a link).
	resolved, err := filepath.EvalSymlinks(cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("market: work dir: %w", err)
	}
	cfg.WorkDir = resolved
	jobs, err := OpenJobStore(ctx, namespace.Wrap(cfg.Store, ds.NewKey("/jobs")))
	if err != nil {
		return nil, err
	}
	awards, err := openAwardStore(ctx, namespace.Wrap(cfg.Store, ds.NewKey("/awards")))
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	m := &Market{
		cfg:     cfg,
		self:    cfg.Host.ID(),
		log:     cfg.Logger,
		jobs:    jobs,
		awards:  awards,
		res:     bidding.NewReservations(bidding.DefaultReservationTTL, nil),
		dedup:   bidding.NewDedup(bidding.DefaultDedupSize),
		ctx:     mctx,
		cancel:  cancel,
		answers: map[answerKey]time.Time{},
		execs:   map[bidding.AwardID]*execution{},
		queue:   make(chan *execution, cfg.QueueLimit),

		announceSlots: make(chan struct{}, maxAnnounceConcurrency),
	}
	m.req.sinks, m.req.loops = map[cid.Cid]*sink{}, map[string]*jobLoop{}
	if err := m.cfg.PubSub.RegisterTopicValidator(bidding.AnnounceTopic, m.validateAnnounce); err != nil {
		cancel()
		return nil, fmt.Errorf("market: announce validator: %w", err)
	}
	if m.topic, err = m.cfg.PubSub.Join(bidding.AnnounceTopic); err != nil {
		cancel()
		return nil, fmt.Errorf("market: join %s: %w", bidding.AnnounceTopic, err)
	}
	if m.sub, err = m.topic.Subscribe(); err != nil {
		cancel()
		return nil, fmt.Errorf("market: subscribe %s: %w", bidding.AnnounceTopic, err)
	}
	cfg.Host.SetStreamHandler(bidding.ProtocolBid, m.handleBidStream)
	cfg.Host.SetStreamHandler(bidding.ProtocolAward, m.handleAwardStream)
	cfg.Host.SetStreamHandler(bidding.ProtocolReceipt, m.handleQueryStream)

	m.awards.failInterrupted(ctx, m)
	for i := 0; i < cfg.Slots; i++ {
		m.wg.Add(1)
		go m.worker()
	}
	m.wg.Add(3)
	go m.readAnnouncements()
	go m.sweep()
	go m.heartbeats()
	m.resumeJobs()
	return m, nil
}

// Close stops the market: job loops end (their jobs stay in flight in the
// store and resume at the next start), runs are cancelled.
func (m *Market) Close() error {
	m.closeOnce.Do(func() {
		m.cfg.Host.RemoveStreamHandler(bidding.ProtocolBid)
		m.cfg.Host.RemoveStreamHandler(bidding.ProtocolAward)
		m.cfg.Host.RemoveStreamHandler(bidding.ProtocolReceipt)
		m.cancel()
		m.sub.Cancel()
		m.wg.Wait()
		_ = m.topic.Close()
		_ = m.cfg.PubSub.UnregisterTopicValidator(bidding.AnnounceTopic)
	})
	return nil
}

// Jobs is the requester's job store.
func (m *Market) Jobs() *JobStore { return m.jobs }

// Load reports the executor's occupation for the capability record.
func (m *Market) Load() (running, queued, free int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running, m.queued, m.cfg.Slots - m.running
}

// sweep forgets old answered announcements.
func (m *Market) sweep() {
	defer m.wg.Done()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.mu.Lock()
			for k, at := range m.answers {
				if now.Sub(at) > time.Minute {
					delete(m.answers, k)
				}
			}
			m.mu.Unlock()
		}
	}
}

// WaitTopicPeers blocks until at least n peers are known on the
// announcement topic (driven by gossipsub's peer events) or ctx ends.
func (m *Market) WaitTopicPeers(ctx context.Context, n int) error {
	h, err := m.topic.EventHandler()
	if err != nil {
		return err
	}
	defer h.Cancel()
	// Peer events wake the loop; a short re-check covers events that
	// gossipsub delivers before ListPeers reflects them.
	for len(m.topic.ListPeers()) < n {
		ectx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := h.NextPeerEvent(ectx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_ = err
	}
	return nil
}

// TopicPeers is how many peers are known on the announcement topic.
func (m *Market) TopicPeers() int { return len(m.topic.ListPeers()) }
