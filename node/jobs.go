package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/ipfs/boxo/files"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/docker"
	"github.com/shoalnet/shoal/exec/wasm"
	"github.com/shoalnet/shoal/internal/logging"
)

// engines runs tasks on the executors this node has.
type engines struct {
	byName map[string]exec.Executor
	names  []string
}

var _ market.Runner = (*engines)(nil)

func (e *engines) Engines() []string { return e.names }

func (e *engines) Run(ctx context.Context, engine string, t *exec.Task) (*exec.Result, error) {
	x, ok := e.byName[engine]
	if !ok {
		return nil, fmt.Errorf("%w: engine %q is not available on this node", exec.ErrEngineUnavailable, engine)
	}
	return x.Run(ctx, t)
}

func (e *engines) Close() error {
	for _, x := range e.byName {
		_ = x.Close()
	}
	return nil
}

// startEngines sets up wasm (always) and docker (when the Engine answers a
// ping, unless disabled), reaping containers a previous run of this node
// left behind.
func (n *Node) startEngines(ctx context.Context) (*engines, error) {
	e := &engines{byName: map[string]exec.Executor{}}
	var wopts []wasm.Option
	if dir := n.wasmCacheDir(); dir != "" {
		wopts = append(wopts, wasm.WithCacheDir(dir))
	}
	if k := n.wasmWorkers(); k > 0 {
		wopts = append(wopts, wasm.WithWorkers(k, n.wasmWorker), wasm.WithWorkerNice(n.cfg.WASM.Nice))
		if n.repoPath != "" {
			wopts = append(wopts, wasm.WithPreload(filepath.Join(n.repoPath, WasmRecentDir), 0))
		}
	}
	w, err := wasm.New(ctx, append(wopts, wasm.WithLogger(logging.Logger("wasm")))...)
	if err != nil {
		return nil, err
	}
	e.byName[exec.EngineWASM] = w
	if !n.cfg.Jobs.DisableDocker && docker.Available(ctx) {
		d, err := docker.New(ctx, append([]docker.Option{docker.WithInstance(n.ID().String()), docker.WithLogger(logging.Logger("docker"))}, n.docker...)...)
		if err != nil {
			log.Warn("docker engine not usable", "err", err)
		} else {
			if k, err := d.ReapOrphans(ctx); err != nil {
				log.Warn("reaping orphan containers", "err", err)
			} else if k > 0 {
				log.Info("removed orphan containers of a previous run", "count", k)
			}
			e.byName[exec.EngineDocker] = d
		}
	}
	for name := range e.byName {
		e.names = append(e.names, name)
	}
	sort.Strings(e.names)
	return e, nil
}

// wasmWorkers is the size of the wasm worker pool: wasm.workers, one per
// slot by default; 0 (modules run in the daemon) with wasm.workers -1 or
// without a worker command.
func (n *Node) wasmWorkers() int {
	k := n.cfg.WASM.Workers
	switch {
	case n.wasmWorker.Path == "" || k < 0:
		return 0
	case k == 0:
		if k = n.cfg.Jobs.Slots; k <= 0 {
			k = runtime.NumCPU() // the market's default slots
		}
	}
	return k
}

// contentAdapter gives the market what it needs of the content layer.
type contentAdapter struct {
	n *Node

	mu      sync.Mutex
	modules map[cid.Cid]cachedModule // small cache of module bytes
	order   []cid.Cid
}

type cachedModule struct {
	code   []byte
	digest [32]byte
}

var _ market.Content = (*contentAdapter)(nil)

// maxCachedModules is how many modules' bytes the adapter keeps.
const maxCachedModules = 8

func (c *contentAdapter) PutBlock(ctx context.Context, b blocks.Block) error {
	return c.n.Content.PutBlock(ctx, b)
}

func (c *contentAdapter) connect(ctx context.Context, hints []peer.AddrInfo) {
	for _, h := range hints {
		if h.ID == c.n.ID() || len(c.n.Host.Network().ConnsToPeer(h.ID)) > 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = c.n.Host.Connect(cctx, h)
		cancel()
	}
}

func (c *contentAdapter) GetBlock(ctx context.Context, k cid.Cid, hints []peer.AddrInfo) (blocks.Block, error) {
	if !c.n.Content.Has(ctx, k) {
		c.connect(ctx, hints)
	}
	return c.n.Content.GetBlock(ctx, k)
}

func (c *contentAdapter) LocalBytes(ctx context.Context, k cid.Cid) (int64, int64) {
	held, total, err := c.n.Content.LocalBytes(ctx, k)
	if err != nil {
		return 0, 0
	}
	return held, total
}

func (c *contentAdapter) Fetch(ctx context.Context, k cid.Cid, hints []peer.AddrInfo, limit market.FetchLimit) (int64, error) {
	opts := content.FetchOptions{Providers: hints, MaxBytes: limit.Max, MaxBytesName: limit.Name}
	if f := limit.Progress; f != nil {
		opts.Progress = func(p content.Progress) { f(p.Bytes, p.Total) }
	}
	err := c.n.Content.Fetch(ctx, k, opts)
	if errors.Is(err, content.ErrTooLarge) || errors.Is(err, content.ErrTooDeep) || errors.Is(err, content.ErrTooManyBlocks) {
		return 0, fmt.Errorf("%w: %w", market.ErrContentTooLarge, err)
	}
	if err != nil {
		return 0, err
	}
	held, _, err := c.n.Content.LocalBytes(ctx, k)
	if err != nil {
		return 0, err
	}
	return held, nil
}

// Pin fetches the DAG k (within jobs.max_output_bytes) and pins it: the
// agreed outputs of a verified job this node requested (market.Pinner).
func (c *contentAdapter) Pin(ctx context.Context, k cid.Cid, recursive bool) error {
	if _, err := c.Fetch(ctx, k, nil, market.FetchLimit{Max: c.n.cfg.Jobs.OutputLimit(), Name: "jobs.max_output_bytes"}); err != nil {
		return err
	}
	return c.n.Content.Pin(ctx, k, recursive)
}

// WriteTo materializes a job input or image tarball. A symlink as the
// root is refused: the engines mount the path they are given, and a link
// there would be followed on this host (`ln -s / x; shoal add x` would
// mount the executor's file system). Symlinks inside a directory input are
// written as symlinks; the engines keep them inside the mount.
func (c *contentAdapter) WriteTo(ctx context.Context, k cid.Cid, path string) error {
	err := c.n.Content.WriteToWith(ctx, k, path, content.WriteOptions{Force: true, RefuseSymlinkRoot: true})
	switch {
	case errors.Is(err, content.ErrSymlinkRoot):
		return fmt.Errorf("%s is a symlink, and a job input or image must be a file or a directory: add the target itself, not a link to it (%w, %w)", k, content.ErrSymlinkRoot, market.ErrUnusableContent)
	case errors.Is(err, content.ErrBadName), errors.Is(err, content.ErrDuplicateName), errors.Is(err, content.ErrTooDeep):
		return fmt.Errorf("%w: %w", market.ErrUnusableContent, err)
	}
	return err
}

func (c *contentAdapter) Module(ctx context.Context, k cid.Cid, hints []peer.AddrInfo, max int64) ([]byte, [32]byte, error) {
	c.mu.Lock()
	if m, ok := c.modules[k]; ok {
		c.mu.Unlock()
		return m.code, m.digest, nil
	}
	c.mu.Unlock()
	// A module of max bytes is a DAG of a little more (block headers and
	// links, under 1 %); the slack bounds what a lying root can make us
	// store.
	if _, err := c.Fetch(ctx, k, hints, market.FetchLimit{Max: max + max/16 + 1<<20, Name: "the module size limit"}); err != nil {
		return nil, [32]byte{}, err
	}
	r, err := c.n.Content.Cat(ctx, k)
	if err != nil {
		return nil, [32]byte{}, err
	}
	defer r.Close()
	if r.Size() > max {
		return nil, [32]byte{}, fmt.Errorf("%s is %d bytes, more than the %d allowed", k, r.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(r, max))
	if err != nil {
		return nil, [32]byte{}, err
	}
	m := cachedModule{code: b, digest: sha256.Sum256(b)}
	c.mu.Lock()
	if c.modules == nil {
		c.modules = map[cid.Cid]cachedModule{}
	}
	if _, ok := c.modules[k]; !ok {
		c.modules[k] = m
		c.order = append(c.order, k)
		if len(c.order) > maxCachedModules {
			delete(c.modules, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.mu.Unlock()
	return m.code, m.digest, nil
}

func (c *contentAdapter) Publish(ctx context.Context, stdout, stderr []byte, outputsDir string) ([3]cid.Cid, error) {
	var roots [3]cid.Cid
	dir, err := content.OpenPath(outputsDir, true)
	if err != nil {
		return roots, err
	}
	cs, err := c.n.Content.AddAll(ctx, []files.Node{files.NewBytesFile(stdout), files.NewBytesFile(stderr), dir}, content.AddOptions{Pin: true})
	if err != nil {
		return roots, err
	}
	copy(roots[:], cs)
	return roots, nil
}

func (c *contentAdapter) FindProviders(ctx context.Context, k cid.Cid, max int) []peer.AddrInfo {
	var out []peer.AddrInfo
	for ai := range c.n.DHT.FindProvidersAsync(ctx, k, max) {
		out = append(out, ai)
	}
	return out
}

// startMarket starts the job market on this node.
func (n *Node) startMarket(ctx context.Context) error {
	eng, err := n.startEngines(ctx)
	if err != nil {
		return err
	}
	n.closers = append(n.closers, eng.Close)
	n.engines = eng.Names()
	work := filepath.Join(n.repoPath, "work")
	if n.repoPath == "" {
		work = ""
	}
	var memo market.Memo
	if !n.cfg.Jobs.DisableMemo {
		memo = &dhtMemo{n: n, net: bidding.NetworkID(n.psk)}
	}
	rem := newRemote(n, work, logging.Logger("inputs"))
	if err := rem.loadHeld(ctx); err != nil {
		// Bids then count only the imports made from now on.
		rem.log.Warn("cannot load the imports of url inputs", "err", err)
	}
	caps := n.capabilities()
	capacity := jobspec.Resources{MilliCPU: int64(caps.CPU * 1000), Memory: caps.Memory, Disk: caps.Disk}
	m, err := market.New(ctx, market.Config{
		Host:          n.Host,
		Key:           n.key,
		PubSub:        n.PubSub,
		Store:         n.Store,
		Content:       &contentAdapter{n: n},
		Runner:        eng,
		PeerRouting:   n.DHT,
		Remote:        rem,
		Labels:        n.cfg.Capabilities.Labels,
		Capacity:      capacity,
		Slots:         n.cfg.Jobs.Slots,
		QueueLimit:    n.cfg.Jobs.QueueLimit,
		MaxInputBytes: n.cfg.Jobs.InputLimit(),
		WorkDir:       work,
		BidWindow:     n.cfg.Jobs.BidWindow.D(),
		Trust:         n.guard,
		Policy:        n.guard,
		Memo:          memo,
		MemoMinRun:    n.cfg.Jobs.memoMinRun(),
		Executors:     market.ExecutorPolicy{MinReputation: n.cfg.Jobs.MinReputation, RefuseDisagreement: time.Duration(n.cfg.Jobs.RefuseDisagreementDays) * 24 * time.Hour},
		Logger:        logging.Logger("market"),
		Metrics:       n.Metrics,
	})
	if err != nil {
		return err
	}
	n.Market = m
	n.closers = append(n.closers, m.Close)
	return nil
}

// Names lists the engine names.
func (e *engines) Names() []string { return e.names }
