package content

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Fetch tuning.
const (
	// fetchBatch is the number of CIDs asked of bitswap in one GetMany.
	fetchBatch = 128
	// fetchParallel is the number of GetMany batches in flight at once.
	fetchParallel = 8
	// maxProviders is the number of providers taken from one DHT lookup.
	maxProviders = 10
	// fetchStallTimeout is how long a fetch waits with blocks outstanding
	// and none arriving before it asks again in a new bitswap session.
	fetchStallTimeout = 3 * time.Second
	// hintConnectTimeout bounds the dial of one provider hint.
	hintConnectTimeout = 10 * time.Second
)

// Progress reports how much of a DAG is local during Fetch.
type Progress struct {
	// Bytes is the size of the DAG's blocks that are local so far, fetched
	// now or held before (a block linked twice counts twice, as in Total).
	Bytes int64
	// Blocks is the number of distinct blocks of the DAG local so far.
	Blocks int64
	// Total is the cumulative size of the DAG as recorded in its root, or -1
	// when the root does not record one (non-UnixFS roots).
	Total int64
}

// FetchOptions refine Fetch.
type FetchOptions struct {
	// Providers are peers believed to hold the content (for example the
	// requester of a job). They are connected to before anything else.
	Providers []peer.AddrInfo
	// Progress, when set, is called after each block with the running
	// totals; calls are serialized.
	Progress func(Progress)
	// Pin pins the DAG recursively once it is complete.
	Pin bool
	// MaxBytes bounds the fetch; 0 (the zero value) means no bound, which
	// only callers that trust the DAG should use. The bound is checked
	// three times: against the size the root records (a cheap early
	// refusal, but the root may lie), against the bytes of the blocks
	// actually received, counted as they arrive (the fetch stops as soon
	// as one more block would pass the bound, and that block is not
	// stored), and, once the DAG is complete, against its size with every
	// link counted (the bytes it would take written out as files). Each
	// fails with a *TooLargeError (errors.Is(err, ErrTooLarge)); the blocks
	// stored until then are not pinned and go at the next GC.
	MaxBytes int64
	// MaxBytesName says what MaxBytes is in the caller's terms, for the
	// error ("jobs.max_input_bytes").
	MaxBytesName string
}

// Fetch makes the whole DAG under c local. Missing blocks come over bitswap
// from connected peers, the hints in opts.Providers, and the providers the
// DHT lists. When the root is not local and nobody sends it within
// FindProvidersTimeout while the DHT lists no provider, Fetch fails with a
// *NoProvidersError (errors.Is(err, ErrNoProviders)); it never waits longer
// than twice that for a root. Past the root, Fetch fails with ErrNotFound
// once no block at all has arrived for FindProvidersTimeout, and never runs
// longer than ctx allows. Fetch holds the pin lock, so GC waits for it.
//
// Whatever the bound, a block over MaxBlockSize is refused (*TooLargeError),
// and a DAG deeper than Config.MaxDAGDepth or with more blocks than
// Config.MaxDAGBlocks fails with ErrTooDeep or ErrTooManyBlocks.
func (s *Store) Fetch(ctx context.Context, c cid.Cid, opts FetchOptions) error {
	if err := s.check(); err != nil {
		return err
	}
	unlock := s.bs.PinLock(ctx)
	defer unlock.Unlock(ctx)
	if err := s.fetchLocked(ctx, c, opts); err != nil {
		return fmt.Errorf("content: fetch %s: %w", c, err)
	}
	if opts.Pin {
		if err := s.pinLocked(ctx, c, true); err != nil {
			return fmt.Errorf("content: fetch %s: %w", c, err)
		}
	}
	return nil
}

// fetchLocked fetches the DAG under c; the caller holds the pin lock.
func (s *Store) fetchLocked(ctx context.Context, c cid.Cid, opts FetchOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Received blocks are stored through fstore, which counts them and
	// refuses what passes the bounds; a refusal cancels the fetch and is
	// the error Fetch returns, whatever the cancellation caused after it.
	var refusal struct {
		sync.Mutex
		err error
	}
	refused := func() error {
		refusal.Lock()
		defer refusal.Unlock()
		return refusal.err
	}
	wb := newWriteBack(s.bs)
	// Whatever the outcome, what arrived is written (a later fetch of the
	// same DAG resumes from it) before Fetch returns.
	defer func() {
		if err := wb.flush(context.WithoutCancel(ctx)); err != nil {
			s.log.Warn("fetch: write received blocks", "cid", c, "err", err)
		}
	}()
	fstore := &fetchStore{Blockstore: wb, max: opts.MaxBytes, name: opts.MaxBytesName, total: &s.fetched, fail: func(err error) {
		refusal.Lock()
		if refusal.err == nil {
			refusal.err = err
		}
		refusal.Unlock()
		cancel()
	}}
	bsvc := blockservice.New(fstore, s.bswap) // never closed: it would close s.bswap
	ses := blockservice.NewSession(ctx, bsvc)
	blk, err := s.getBlock(ctx, c, opts.Providers, ses)
	if err != nil {
		if r := refused(); r != nil {
			return r
		}
		return err
	}
	root, err := s.decode(ctx, blk)
	if err != nil {
		return fmt.Errorf("decode root: %w", err)
	}
	total := cumulativeSize(root)
	if opts.MaxBytes > 0 && total > opts.MaxBytes {
		return &TooLargeError{Limit: opts.MaxBytes, Name: opts.MaxBytesName, Got: total, Claimed: true}
	}
	f := &dagFetcher{
		ctx:       ctx,
		cancel:    cancel,
		bsvc:      bsvc,
		sem:       make(chan struct{}, fetchParallel),
		seen:      map[cid.Cid]struct{}{c: {}},
		progress:  opts.Progress,
		p:         Progress{Total: total},
		log:       s.log,
		giveUp:    max(s.cfg.FindProvidersTimeout, 4*fetchStallTimeout),
		maxDepth:  s.maxDepth(),
		maxBlocks: s.maxBlocks(),
	}
	f.gen, f.genCancel = context.WithCancel(ctx)
	f.ng = merkledag.WrapSession(ses)
	f.touch()
	stop := make(chan struct{})
	defer close(stop)
	go f.watch(stop)
	f.wg.Add(1)
	f.visit(root, 0)
	f.wg.Done()
	f.wg.Wait()
	f.genCancel()
	if r := refused(); r != nil {
		return r
	}
	if f.err != nil {
		return f.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := wb.flush(ctx); err != nil {
		return fmt.Errorf("write blocks: %w", err)
	}
	if err := s.syncBlocks(ctx); err != nil {
		return fmt.Errorf("sync blocks: %w", err)
	}
	if opts.MaxBytes > 0 {
		// Every block is here and the stored bytes fit; a block linked many
		// times may still make the DAG huge once written out as files.
		w, err := s.walkLocal(ctx, c)
		if err != nil {
			return err
		}
		if w.held > opts.MaxBytes {
			return &TooLargeError{Limit: opts.MaxBytes, Name: opts.MaxBytesName, Got: w.held, Expanded: true}
		}
	}
	return nil
}

// dagFetcher walks a DAG breadth-first in batches, fetching missing blocks
// through one bitswap session. If no block arrives for fetchStallTimeout
// while blocks are outstanding, it abandons the session and asks again in a
// new one: bitswap can lose a want (seen on loopback, mostly when the same
// blocks were fetched again right after a GC), and a lost want must not hang
// Fetch. If no block at all arrives for giveUp (FindProvidersTimeout, at
// least 4 stall timeouts), the fetch fails with ErrNotFound.
type dagFetcher struct {
	ctx    context.Context
	cancel context.CancelFunc
	bsvc   blockservice.BlockService // stores through the fetch's fetchStore
	sem    chan struct{}
	wg     sync.WaitGroup
	log    *slog.Logger

	sesMu     sync.Mutex
	gen       context.Context // the current session's context
	genCancel context.CancelFunc
	ng        ipld.NodeGetter // the current session
	restarts  int

	lastBlock   atomic.Int64 // unix nanoseconds of the last block or restart
	lastReal    atomic.Int64 // unix nanoseconds of the last block received
	giveUp      time.Duration
	outstanding atomic.Int64 // batches waiting for blocks

	maxDepth  int   // links below the root a fetch follows
	maxBlocks int64 // distinct blocks a fetch visits

	mu       sync.Mutex
	seen     map[cid.Cid]struct{}
	err      error
	p        Progress
	progress func(Progress)
}

func (f *dagFetcher) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
	f.cancel()
}

// touch records that a block arrived.
func (f *dagFetcher) touch() {
	now := time.Now().UnixNano()
	f.lastBlock.Store(now)
	f.lastReal.Store(now)
}

// session returns the current bitswap session and its context.
func (f *dagFetcher) session() (context.Context, ipld.NodeGetter) {
	f.sesMu.Lock()
	defer f.sesMu.Unlock()
	return f.gen, f.ng
}

// watch restarts the session whenever blocks are outstanding and none
// arrived for fetchStallTimeout, until stop is closed.
func (f *dagFetcher) watch(stop <-chan struct{}) {
	t := time.NewTicker(fetchStallTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		if f.outstanding.Load() == 0 {
			continue
		}
		if none := time.Since(time.Unix(0, f.lastReal.Load())); none >= f.giveUp {
			f.fail(fmt.Errorf("no block received for %s (providers gone?): %w", none.Round(time.Second), ErrNotFound))
			return
		}
		idle := time.Since(time.Unix(0, f.lastBlock.Load()))
		if idle < fetchStallTimeout {
			continue
		}
		f.sesMu.Lock()
		f.restarts++
		f.genCancel()
		f.gen, f.genCancel = context.WithCancel(f.ctx)
		f.ng = merkledag.WrapSession(blockservice.NewSession(f.gen, f.bsvc))
		n := f.restarts
		f.sesMu.Unlock()
		f.lastBlock.Store(time.Now().UnixNano())
		f.log.Info("fetch stalled; asking again in a new bitswap session", "idle", idle.Round(time.Millisecond), "restarts", n)
	}
}

// visit records nd, found depth links below the root, and schedules its
// unseen children, failing the fetch when they would pass the depth or
// block bound. A visit may run its children's batch itself (when every
// slot is busy), so the Go stack grows with the depth: the depth bound
// bounds it too.
func (f *dagFetcher) visit(nd ipld.Node, depth int) {
	links := nd.Links()
	var todo []cid.Cid
	f.mu.Lock()
	f.p.Blocks++
	f.p.Bytes += int64(len(nd.RawData()))
	for _, l := range links {
		if _, ok := f.seen[l.Cid]; ok {
			// Linked again: count its recorded size so that Bytes meets
			// Total, but fetch it once.
			f.p.Bytes += int64(l.Size)
			continue
		}
		f.seen[l.Cid] = struct{}{}
		todo = append(todo, l.Cid)
	}
	var bound error
	switch {
	case len(todo) > 0 && depth+1 > f.maxDepth:
		bound = tooDeep(todo[0], depth+1, f.maxDepth)
	case int64(len(f.seen)) > f.maxBlocks:
		bound = tooMany(f.maxBlocks)
	}
	p := f.p
	if f.progress != nil {
		f.progress(p)
	}
	f.mu.Unlock()
	if bound != nil {
		f.fail(bound)
		return
	}

	for len(todo) > 0 {
		n := min(len(todo), fetchBatch)
		batch := todo[:n:n]
		todo = todo[n:]
		f.wg.Add(1)
		select {
		case f.sem <- struct{}{}:
			go func() {
				defer func() { <-f.sem }()
				f.getMany(batch, depth+1)
			}()
		default:
			f.getMany(batch, depth+1) // all slots busy: work here rather than queue
		}
	}
}

// getMany fetches batch, found depth links below the root, and visits each
// node, asking again in the new session when the watchdog replaced the one
// in use.
func (f *dagFetcher) getMany(batch []cid.Cid, depth int) {
	defer f.wg.Done()
	f.outstanding.Add(1)
	defer f.outstanding.Add(-1)
	remaining := make(map[cid.Cid]struct{}, len(batch))
	for _, c := range batch {
		remaining[c] = struct{}{}
	}
	keys := batch
	for {
		gen, ng := f.session()
		var rerr error
		for opt := range ng.GetMany(gen, keys) {
			if opt.Err != nil {
				rerr = opt.Err
				break
			}
			if _, ok := remaining[opt.Node.Cid()]; !ok {
				continue
			}
			delete(remaining, opt.Node.Cid())
			f.touch()
			f.visit(opt.Node, depth)
		}
		if len(remaining) == 0 {
			return
		}
		if err := f.ctx.Err(); err != nil {
			f.fail(err)
			return
		}
		if gen.Err() == nil {
			if rerr == nil || errors.Is(rerr, context.Canceled) {
				rerr = ErrNotFound
			}
			f.fail(fmt.Errorf("%d of %d blocks not received: %w", len(remaining), len(batch), rerr))
			return
		}
		// The watchdog replaced the session: ask for the rest again.
		keys = make([]cid.Cid, 0, len(remaining))
		for c := range remaining {
			keys = append(keys, c)
		}
	}
}

// cumulativeSize is the DAG size a root records, or -1.
func cumulativeSize(nd ipld.Node) int64 {
	switch nd := nd.(type) {
	case *merkledag.ProtoNode:
		n, err := nd.Size()
		if err != nil {
			return -1
		}
		return int64(n)
	case *merkledag.RawNode:
		return int64(len(nd.RawData()))
	default:
		if len(nd.Links()) == 0 {
			return int64(len(nd.RawData()))
		}
		return -1
	}
}

// blockGetter is what getBlock fetches through: the block service or one of
// its sessions.
type blockGetter interface {
	GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error)
}

// getBlock returns block c from the blockstore, or else connects to hints,
// asks the DHT for providers and fetches it over bitswap, with the bounded
// waits described at Fetch. via is the block service or a session of it.
func (s *Store) getBlock(ctx context.Context, c cid.Cid, hints []peer.AddrInfo, via blockGetter) (blocks.Block, error) {
	blk, err := s.bs.Get(ctx, c)
	if err == nil {
		return blk, nil
	}
	if !ipld.IsNotFound(err) {
		return nil, fmt.Errorf("read block: %w", err)
	}
	if via == nil {
		via = s.bserv
	}
	s.connectHints(ctx, hints)
	var provs providerSet
	for _, h := range hints {
		if h.ID != "" && h.ID != s.cfg.Host.ID() {
			provs.add(h.ID)
		}
	}

	wait := s.cfg.FindProvidersTimeout
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var found atomic.Int64
	if s.cfg.Router != nil {
		go s.findProviders(wctx, c, &found, &provs)
	}
	blk, err = via.GetBlock(wctx, c)
	if err == nil {
		return blk, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if wctx.Err() == nil {
		return nil, err
	}
	if err := relayedOnly(s.cfg.Host, c, provs.list(), s.cfg.HolePunchFailures); err != nil {
		return nil, err
	}
	n := found.Load()
	if n == 0 {
		return nil, &NoProvidersError{CID: c, Wait: wait}
	}
	// Providers exist but none has sent the block yet: they may be slow or
	// far; give them one more wait.
	s.log.Debug("providers found but block not received yet", "cid", c, "providers", n)
	wctx2, cancel2 := context.WithTimeout(ctx, wait)
	defer cancel2()
	blk, err = via.GetBlock(wctx2, c)
	if err == nil {
		return blk, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := relayedOnly(s.cfg.Host, c, provs.list(), s.cfg.HolePunchFailures); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%d providers found for CID %s but none sent it within %s: %w", n, c, 2*wait, ErrNotFound)
}

// findProviders asks the DHT for providers of c and connects to each one,
// counting them in found, until ctx ends.
func (s *Store) findProviders(ctx context.Context, c cid.Cid, found *atomic.Int64, provs *providerSet) {
	self := s.cfg.Host.ID()
	for ai := range s.cfg.Router.FindProvidersAsync(ctx, c, maxProviders) {
		if ai.ID == self || ai.ID == "" {
			continue
		}
		found.Add(1)
		provs.add(ai.ID)
		s.log.Debug("provider found", "cid", c, "peer", ai.ID)
		if len(ai.Addrs) > 0 {
			s.cfg.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		}
		go func() {
			if err := s.cfg.Host.Connect(ctx, ai); err != nil && ctx.Err() == nil {
				s.log.Debug("connect to provider", "cid", c, "peer", ai.ID, "err", err)
			}
		}()
	}
}

// connectHints dials the given peers in parallel, each bounded by
// hintConnectTimeout; failures are logged and otherwise ignored.
func (s *Store) connectHints(ctx context.Context, hints []peer.AddrInfo) {
	if len(hints) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, ai := range hints {
		if ai.ID == s.cfg.Host.ID() || ai.ID == "" {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, hintConnectTimeout)
			defer cancel()
			if err := s.cfg.Host.Connect(cctx, ai); err != nil {
				s.log.Info("cannot connect to provider hint", "peer", ai.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

// FetchedBytes is the size of the blocks fetches received so far (blocks
// received and then refused by a bound count too).
func (s *Store) FetchedBytes() int64 { return s.fetched.Load() }
