package content

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	// Register dag-cbor so that DAG walks (fetch, pin, GC) follow the links
	// of dag-cbor blocks such as job specs and receipts.
	_ "github.com/ipld/go-ipld-prime/codec/dagcbor"
)

// Defaults for Config.
const (
	// DefaultFindProvidersTimeout bounds the wait for a provider of a CID
	// that is not local.
	DefaultFindProvidersTimeout = 30 * time.Second
	// DefaultReprovideInterval is how often pinned roots are provided again.
	DefaultReprovideInterval = 12 * time.Hour
	// DefaultProvideTimeout bounds one DHT provide of one root.
	DefaultProvideTimeout = 2 * time.Minute
	// firstReprovideDelay is the wait before the first reprovide after New,
	// so a restarted node announces its pins once its routing table filled.
	firstReprovideDelay = time.Minute
)

// blocksNamespace holds the blocks inside the repo datastore. The pinner
// keeps its own keys under /pins (dspinner prefixes every key it writes);
// it is given the datastore unwrapped because go-datastore's namespace
// wrapper does not re-prefix keys that already start with the namespace, so
// wrapping dspinner in /pins would corrupt its key mapping.
var blocksNamespace = datastore.NewKey("/blocks")

// Bitswap tuning (see bench_test.go for the measurements behind them).
const (
	// bitswapMaxOutstandingBytesPerPeer lets a server keep this many bytes
	// of blocks queued to one peer (boxo's default is 1 MiB, which caps a
	// single peer's fetch well below what loopback or a LAN can carry).
	bitswapMaxOutstandingBytesPerPeer = 8 << 20
	// bitswapTaskWorkers is the number of goroutines sending blocks.
	bitswapTaskWorkers = 8
	// bitswapEngineTaskWorkers is the number of decision-engine workers.
	bitswapEngineTaskWorkers = 8
	// bitswapBlockstoreWorkers is the number of concurrent blockstore reads
	// the decision engine may make for incoming wants.
	bitswapBlockstoreWorkers = 128
	// bitswapTargetMessageSize is the size the server aims at per message.
	bitswapTargetMessageSize = 1 << 20
	// blockCacheEntries is the size of the presence/size cache. With the
	// two-queue cache's bookkeeping an entry costs ~250 bytes of heap
	// (measured: 64Ki entries grew a job-running daemon's live heap by
	// ~15 MB), so 16Ki entries (~4 MB) covering 4 GiB of 256 KiB blocks.
	blockCacheEntries = 16 << 10
)

// Config is what the node gives New.
type Config struct {
	// Host is the node's libp2p host; bitswap runs on it. Required.
	Host host.Host
	// Datastore is the repo's datastore. Blocks are kept under /blocks and
	// pins under /pins. The Store does not close it. Required.
	Datastore datastore.Batching
	// BlockDir, when set, is a directory where blocks of LargeBlockMin
	// bytes and more are kept as files (created if missing); smaller blocks
	// stay in Datastore. Empty keeps every block in Datastore.
	BlockDir string
	// Router is the node's content router (its kad-dht). It may be nil:
	// then nothing is provided and only connected peers and hints are asked
	// for content.
	Router routing.ContentRouting
	// FindProvidersTimeout bounds the wait for a provider of a CID that is
	// not local (default DefaultFindProvidersTimeout, 30 s).
	FindProvidersTimeout time.Duration
	// ReprovideInterval is how often pinned roots are provided again
	// (default DefaultReprovideInterval, 12 h). A negative value turns the
	// periodic reprovide off; roots are still provided when pinned.
	ReprovideInterval time.Duration
	// MaxDAGDepth bounds how many links below its root any walk of this
	// Store follows: Fetch, Pin, Stat, LocalBytes (default
	// DefaultMaxDAGDepth, 4096). Deeper DAGs fail with ErrTooDeep.
	MaxDAGDepth int
	// MaxDAGBlocks bounds how many distinct blocks one walk visits
	// (default DefaultMaxDAGBlocks, 4 Mi). Larger DAGs fail with
	// ErrTooManyBlocks.
	MaxDAGBlocks int64
	// Logger receives the Store's logs (default slog.Default() with
	// pkg=content).
	Logger *slog.Logger
	// HolePunchFailures, when set, says how many hole punches with a peer
	// failed; it goes into the NoDirectConnError of a fetch whose only
	// providers are reachable through a relay alone.
	HolePunchFailures func(peer.ID) int
	// OnUnpin, when set, is called with c once Unpin removed c's pin (its
	// blocks may go at the next GC), on the goroutine that called Unpin.
	// It must not block nor call back into the Store. The node uses it to
	// forget what it remembers in memory as held here (the imports of
	// url inputs), so that a bid never claims content that GC may take.
	OnUnpin func(c cid.Cid)
}

// Store is a node's content store. Its methods are safe for concurrent use.
type Store struct {
	cfg Config
	log *slog.Logger

	// bs is the persistent blockstore with the GC lock.
	bs blockstore.GCBlockstore
	// base is bs without the lock, for the key listing of GC.
	base blockstore.Blockstore
	// files keeps the large blocks when Config.BlockDir is set (else nil).
	files *fileBlocks
	// bswap is the bitswap client and server on cfg.Host.
	bswap *bitswap.Bitswap
	// bserv and dag fetch missing blocks over bitswap.
	bserv blockservice.BlockService
	dag   ipld.DAGService
	// offline reads and writes the blockstore only, never the network.
	offline ipld.DAGService
	pinner  pin.Pinner

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines (providing)

	mu       sync.Mutex // guards stopping and wg.Add
	stopping bool

	provides provideTracker
	pinned   pinnedSet
	// fetched counts the bytes of blocks received by fetches (metrics).
	fetched atomic.Int64

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New builds a Store on cfg.Host and cfg.Datastore and starts bitswap and
// the reprovide loop. ctx only bounds construction; Close stops the Store.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Host == nil {
		return nil, errors.New("content: Config.Host is required")
	}
	if cfg.Datastore == nil {
		return nil, errors.New("content: Config.Datastore is required")
	}
	if cfg.FindProvidersTimeout <= 0 {
		cfg.FindProvidersTimeout = DefaultFindProvidersTimeout
	}
	if cfg.ReprovideInterval == 0 {
		cfg.ReprovideInterval = DefaultReprovideInterval
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default().With("pkg", "content")
	}

	bds := namespace.Wrap(cfg.Datastore, blocksNamespace)
	// The id store answers for identity CIDs (data inlined in the CID)
	// without storing them, as kubo does; emptyBlocks does the same for
	// empty blocks, which bitswap cannot transfer.
	// The two-queue cache remembers presence and sizes of recent blocks:
	// bitswap's server asks for a block's size before reading it, and a
	// datastore read of a size costs as much as reading the block.
	var stored blockstore.Blockstore = blockstore.NewBlockstore(bds, blockstore.NoPrefix())
	var files *fileBlocks
	if cfg.BlockDir != "" {
		var err error
		if files, err = newFileBlocks(stored, cfg.BlockDir, logger); err != nil {
			return nil, err
		}
		stored = files
	}
	cached, err := blockstore.CachedBlockstore(ctx, stored,
		blockstore.CacheOpts{HasTwoQueueCacheSize: blockCacheEntries})
	if err != nil {
		return nil, fmt.Errorf("content: block cache: %w", err)
	}
	base := blockstore.NewIdStore(emptyBlocks{cached})
	bs := blockstore.NewGCBlockstore(base, blockstore.NewGCLocker())

	life, cancel := context.WithCancel(context.Background())
	s := &Store{
		cfg:    cfg,
		log:    logger,
		bs:     bs,
		base:   base,
		files:  files,
		ctx:    life,
		cancel: cancel,
	}

	// A nil routing.ContentRouting must reach bitswap as a nil interface.
	var finder routing.ContentDiscovery
	if cfg.Router != nil {
		finder = cfg.Router
	}
	s.bswap = bitswap.New(life, bsnet.NewFromIpfsHost(cfg.Host), finder, servedSizes{bs},
		bitswap.MaxOutstandingBytesPerPeer(bitswapMaxOutstandingBytesPerPeer),
		bitswap.TaskWorkerCount(bitswapTaskWorkers),
		bitswap.EngineTaskWorkerCount(bitswapEngineTaskWorkers),
		bitswap.EngineBlockstoreWorkerCount(bitswapBlockstoreWorkers),
		bitswap.WithTargetMessageSize(bitswapTargetMessageSize),
	)
	s.bserv = blockservice.New(bs, s.bswap)
	s.dag = merkledag.NewDAGService(s.bserv)
	s.offline = merkledag.NewDAGService(blockservice.New(bs, nil))

	pinner, err := dspinner.New(ctx, cfg.Datastore, s.offline)
	if err != nil {
		cancel()
		_ = s.bswap.Close()
		return nil, fmt.Errorf("content: open pinner: %w", err)
	}
	s.pinner = pinner

	if cfg.Router != nil && cfg.ReprovideInterval > 0 {
		s.spawn(s.reprovideLoop)
	}
	return s, nil
}

// Close stops bitswap and the background providing and closes the pinner.
// It does not close the datastore or the host. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		var errs []error
		if err := s.pinner.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close pinner: %w", err))
		}
		if err := s.bserv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close bitswap: %w", err))
		}
		if len(errs) > 0 {
			s.closeErr = fmt.Errorf("content: close: %w", errors.Join(errs...))
		}
	})
	return s.closeErr
}

// spawn runs f in a goroutine that Close waits for; after Close it does
// nothing.
func (s *Store) spawn(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// syncBlocks makes every block written or removed so far durable: the
// block files, then the datastore.
func (s *Store) syncBlocks(ctx context.Context) error {
	if s.files != nil {
		if err := s.files.sync(); err != nil {
			return err
		}
	}
	return s.cfg.Datastore.Sync(ctx, blocksNamespace)
}

// check returns ErrClosed after Close.
func (s *Store) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Blockstore returns the Store's blockstore, for callers that need boxo
// APIs directly (for example a gateway). Writes through it bypass the GC
// lock; prefer the Store's methods.
func (s *Store) Blockstore() blockstore.Blockstore { return s.bs }
