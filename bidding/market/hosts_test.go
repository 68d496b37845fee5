package market

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/exec"
)

// Test peers for the market: real libp2p hosts on loopback with real
// gossipsub, a market each, and an in-memory content layer that behaves
// like the node's adapter where it matters here (GetBlock connects to the
// hints it is given, and counts fetches of blocks it does not hold).

// testModule is the module every test job names; testContent serves it.
var testModuleBytes = []byte("\x00asm\x01\x00\x00\x00")

func rawCID(b []byte) cid.Cid {
	h, _ := mh.Sum(b, mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

type testContent struct {
	h host.Host

	mu     sync.Mutex
	blocks map[cid.Cid]blocks.Block

	// fetches counts GetBlock calls for blocks not held; inflight and
	// maxInflight how many were in progress at once.
	fetches, inflight, maxInflight atomic.Int64
	// hang makes a fetch wait for ctx instead of failing at once.
	hang bool
	// fetched receives the CID of every fetch once it returned.
	fetched chan cid.Cid
	// sizes, when it holds a CID, makes Fetch of it report progress as a
	// real fetch does: one call per KiB, the root's size known at once.
	sizes map[cid.Cid]int64
}

var _ Content = (*testContent)(nil)

func newTestContent() *testContent {
	c := &testContent{blocks: map[cid.Cid]blocks.Block{}, fetched: make(chan cid.Cid, 1024)}
	b, _ := blocks.NewBlockWithCid(testModuleBytes, rawCID(testModuleBytes))
	c.blocks[b.Cid()] = b
	return c
}

func (c *testContent) PutBlock(_ context.Context, b blocks.Block) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blocks[b.Cid()] = b
	return nil
}

func (c *testContent) GetBlock(ctx context.Context, k cid.Cid, hints []peer.AddrInfo) (blocks.Block, error) {
	c.mu.Lock()
	b, ok := c.blocks[k]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	c.fetches.Add(1)
	n := c.inflight.Add(1)
	for {
		m := c.maxInflight.Load()
		if n <= m || c.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	defer func() {
		c.inflight.Add(-1)
		select {
		case c.fetched <- k:
		default:
		}
	}()
	// As node's contentAdapter: connect to hints not connected yet.
	for _, h := range hints {
		if h.ID == c.h.ID() || len(c.h.Network().ConnsToPeer(h.ID)) > 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = c.h.Connect(cctx, h)
		cancel()
	}
	if c.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, errors.New("block not found")
}

func (c *testContent) LocalBytes(context.Context, cid.Cid) (int64, int64) { return 0, 0 }
func (c *testContent) Fetch(_ context.Context, k cid.Cid, _ []peer.AddrInfo, limit FetchLimit) (int64, error) {
	size := c.sizes[k]
	if limit.Progress != nil && size > 0 {
		for done := int64(1024); done < size; done += 1024 {
			limit.Progress(done, size)
		}
		limit.Progress(size, size)
	}
	return size, nil
}
func (c *testContent) WriteTo(context.Context, cid.Cid, string) error { return nil }
func (c *testContent) Module(context.Context, cid.Cid, []peer.AddrInfo, int64) ([]byte, [32]byte, error) {
	return testModuleBytes, sha256.Sum256(testModuleBytes), nil
}
func (c *testContent) Publish(_ context.Context, stdout, stderr []byte, _ string) ([3]cid.Cid, error) {
	return [3]cid.Cid{rawCID(stdout), rawCID(stderr), rawCID([]byte("outputs"))}, nil
}
func (c *testContent) FindProviders(context.Context, cid.Cid, int) []peer.AddrInfo { return nil }

// testRunner runs tasks with run (nil: exit 0 at once).
type testRunner struct {
	engines []string
	run     func(ctx context.Context, t *exec.Task) (*exec.Result, error)
	hang    *hangingRunner // set by newHangingRunner
}

func (r *testRunner) Engines() []string { return r.engines }
func (r *testRunner) Run(ctx context.Context, _ string, t *exec.Task) (*exec.Result, error) {
	if r.run == nil {
		return &exec.Result{Stdout: []byte("ok\n")}, nil
	}
	return r.run(ctx, t)
}

// testPeer is a host with gossipsub, and a market unless raw.
type testPeer struct {
	h       host.Host
	key     crypto.PrivKey
	ps      *pubsub.PubSub
	content *testContent
	m       *Market
}

func newTestHost(t *testing.T) (host.Host, crypto.PrivKey) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(k), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, k
}

func newTestPubSub(t *testing.T, h host.Host, opts ...pubsub.Option) *pubsub.PubSub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	base := []pubsub.Option{pubsub.WithMessageSignaturePolicy(pubsub.StrictSign), pubsub.WithMaxMessageSize(bidding.MaxAnnounceSize + 1024)}
	ps, err := pubsub.NewGossipSub(ctx, h, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// newTestPeer starts a market on a new host; edit adjusts its config.
func newTestPeer(t *testing.T, runner *testRunner, edit func(*Config), psOpts ...pubsub.Option) *testPeer {
	t.Helper()
	h, k := newTestHost(t)
	p := &testPeer{h: h, key: k, ps: newTestPubSub(t, h, psOpts...), content: newTestContent()}
	p.content.h = h
	if runner == nil {
		runner = &testRunner{engines: []string{exec.EngineWASM}}
	}
	cfg := Config{Host: h, Key: k, PubSub: p.ps, Store: dssync.MutexWrap(ds.NewMapDatastore()), Content: p.content, Runner: runner,
		Capacity: jobspec.Resources{MilliCPU: 8000, Memory: 8 << 30, Disk: 100 << 30}, Slots: 2, WorkDir: t.TempDir(), BidWindow: time.Second}
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p.m = m
	return p
}

func connect(t *testing.T, a, b host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// waitTopic waits until m sees n peers on the announcement topic.
func waitTopic(t *testing.T, m *Market, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.WaitTopicPeers(ctx, n); err != nil {
		t.Fatalf("topic peers: %v", err)
	}
}

// waitJob waits until the job's state is terminal and returns its record.
func waitJob(t *testing.T, m *Market, id cid.Cid, timeout time.Duration) *Job {
	t.Helper()
	ch, j, cancel, err := m.Jobs().Watch(id.String())
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for !j.State.Terminal() {
		select {
		case _, ok := <-ch:
			if !ok {
				j, _ = m.Jobs().Get(id.String())
				return j
			}
			j, _ = m.Jobs().Get(id.String())
		case <-timer.C:
			j, _ = m.Jobs().Get(id.String())
			t.Fatalf("job still %s after %s; events:\n%s", j.State, timeout, eventsText(j))
		}
	}
	return j
}

func eventsText(j *Job) string {
	var s string
	for _, e := range j.Events {
		s += e.Time.Format("05.000") + " " + e.Type + " " + e.Message + "\n"
	}
	return s
}

// testJobSpec is a wasm job on the test module.
func testJobSpec(name string, mutate ...func(*jobspec.Spec)) *jobspec.Spec {
	s := &jobspec.Spec{Name: name, Engine: jobspec.Engine{Wasm: &jobspec.Wasm{Module: rawCID(testModuleBytes)}}}
	for _, f := range mutate {
		f(s)
	}
	return s
}
