package market

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/internal/metrics"
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
	// PeerRouting finds a peer's addresses before a stream of an award
	// (Award, Query, Cancel, live logs) is opened to it, when the host
	// has neither a connection to it nor an address of it, as a
	// restarted requester has for the executors it re-attaches to (the
	// node's DHT; nil: none, and such a dial fails until a connection to
	// the peer opens).
	PeerRouting routing.PeerRouting
	// Remote imports url and s3 inputs and publishes outputs beyond the
	// node (nil: jobs that need it fail with fetch_failed).
	Remote Remote
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
	// Memo publishes and finds receipt records (nil: no memoization;
	// see memo.go).
	Memo Memo
	// MemoMinRun: the record of a run shorter than this (the receipt's
	// finished - started) stays in this node's memo cache and is not
	// published to the network, whose PutValue and Provide cost more than
	// running such a job again. 0: every run is published.
	MemoMinRun time.Duration
	// Executors is the requester's policy on executors by reputation.
	Executors ExecutorPolicy
	// PublishGrace is how long past accept + spec.timeout the requester
	// follows an award before it cancels it and fails over (default
	// bidding.PublishGrace).
	PublishGrace time.Duration
	// Clock is the requester's job loops' clock (nil: the wall clock;
	// clock.go).
	Clock Clock
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics records the market's shoal_* metrics (nil: none).
	Metrics *metrics.Metrics
}

// Market is the node's job market: one entry point that wires the
// transport (host, gossip, framing), the requester (Submit, Cancel, the job
// loops and the job store) and the executor (bids, awards, runs and the
// award store). Its own fields below mu are the requester's state; the
// executor keeps its state under its own lock, and neither takes the
// other's lock.
type Market struct {
	cfg  Config
	self peer.ID
	log  *slog.Logger
	membership

	tr   *transport
	exec *executor

	jobs *JobStore
	// rep is the reputation of the executors this node used (reputation.go).
	rep *Reputations
	// req is the requester's side (its jobs' loops and bid sinks).
	req requester
	// logs are the live logs of the requester's jobs.
	logs logBook
	// vault holds the secret values of the requester's jobs (secrets.go).
	vault secretVault

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
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
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
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
	rep, err := openReputations(ctx, namespace.Wrap(cfg.Store, ds.NewKey("/reputation")))
	if err != nil {
		return nil, err
	}
	tr := newTransport(cfg.Host, cfg.PubSub, cfg.Key, cfg.PeerRouting)
	ex := newExecutor(executorConfig{Key: cfg.Key, Content: cfg.Content, Runner: cfg.Runner, Remote: cfg.Remote, Labels: cfg.Labels, Capacity: cfg.Capacity,
		Slots: cfg.Slots, QueueLimit: cfg.QueueLimit, MaxInputBytes: cfg.MaxInputBytes, WorkDir: cfg.WorkDir,
		Trust: cfg.Trust, Policy: cfg.Policy, Memo: cfg.Memo, MemoMinRun: cfg.MemoMinRun, Logger: cfg.Logger, Metrics: cfg.Metrics}, tr.self, tr, awards)
	jobs.observe = observeJobs(cfg.Metrics)
	mctx, cancel := context.WithCancel(context.Background())
	m := &Market{
		cfg:        cfg,
		self:       tr.self,
		log:        cfg.Logger,
		membership: membership{trust: cfg.Trust, self: tr.self},
		tr:         tr,
		exec:       ex,
		jobs:       jobs,
		rep:        rep,
		ctx:        mctx,
		cancel:     cancel,
	}
	m.req.sinks, m.req.loops = map[cid.Cid]*sink{}, map[string]*jobLoop{}
	// The replay filter is loaded before the first award can arrive.
	ex.recover(ctx)
	if err := tr.join(ex.vetAnnounce); err != nil {
		cancel()
		ex.stop()
		return nil, err
	}
	allow := allowStream(cfg.Policy, cfg.Logger)
	tr.handle(bidding.ProtocolBid, allow, m.serveBidStream)
	tr.handle(bidding.ProtocolAward, allow, ex.serveAward)
	tr.handle(bidding.ProtocolReceipt, allow, ex.serveQuery)
	tr.handle(bidding.ProtocolLogs, allow, m.serveLogs)
	ex.start()
	m.resumeJobs()
	return m, nil
}

// Reputations is the reputation of the executors this node used as
// requester.
func (m *Market) Reputations() *Reputations { return m.rep }

// Close stops the market: job loops end (their jobs stay in flight in the
// store and resume at the next start), runs are cancelled.
func (m *Market) Close() error {
	m.closeOnce.Do(func() {
		m.tr.stopHandling()
		m.cancel()
		m.exec.stop()
		m.tr.stopGossip()
		m.wg.Wait()
		m.exec.wait()
		m.tr.close()
	})
	return nil
}

// serveBidStream serves ProtocolBid, which both sides share: a requester
// asks this node directly (Announce in: the executor answers with a Bid or
// Decline), or a bidder delivers its answer to one of this node's
// announcements (Bid or Decline in: the requester's).
func (m *Market) serveBidStream(s io.ReadWriteCloser, remote peer.ID) {
	defer s.Close()
	deadline(s, bidding.StreamTimeout)
	msg, _, err := recv(s, bidding.MaxAnnounceSize, bidding.KindAnnounce, bidding.KindBid, bidding.KindDecline)
	if err != nil {
		m.log.Debug("bad message on bid stream", "peer", remote, "err", err)
		reset(s)
		return
	}
	if msg.Signer() != remote {
		m.log.Debug("bid stream message signed by another peer", "peer", remote, "signer", msg.Signer())
		reset(s)
		return
	}
	switch x := msg.(type) {
	case *bidding.Announce:
		m.exec.answerStream(s, x)
	case *bidding.Bid:
		// The requester keeps the stream open while the bid is in
		// contention: closing it tells the bidder to release its capacity.
		done := make(chan struct{})
		if m.deliverBid(x, func() { close(done) }) {
			select {
			case <-done:
			case <-m.ctx.Done():
			case <-time.After(bidding.DefaultReservationTTL):
			}
		}
	case *bidding.Decline:
		m.deliverDecline(x)
	}
}

// Jobs is the requester's job store.
func (m *Market) Jobs() *JobStore { return m.jobs }

// Load reports the executor's occupation for the capability record.
func (m *Market) Load() (running, queued, free int) { return m.exec.load() }

// Executions is how many runs this node's executor handed to an engine
// since the market started (a reused receipt costs none).
func (m *Market) Executions() int64 { return m.exec.executions.Load() }

// AnnouncementsDropped is how many gossip announcements the executor
// dropped because maxAnnounceConcurrency were in progress.
func (m *Market) AnnouncementsDropped() int64 { return m.exec.announceDrops.Load() }

// WaitTopicPeers blocks until at least n peers are known on the
// announcement topic (driven by gossipsub's peer events) or ctx ends.
func (m *Market) WaitTopicPeers(ctx context.Context, n int) error { return m.tr.waitTopicPeers(ctx, n) }

// TopicPeers is how many peers are known on the announcement topic.
func (m *Market) TopicPeers() int { return len(m.tr.topicPeers()) }
