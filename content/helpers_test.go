package content

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// testNode is one libp2p host with a kad-dht and a Store on a pebble
// datastore and a block directory in a temporary directory, as a daemon's
// repo lays them out.
type testNode struct {
	h     host.Host
	dht   *dht.IpfsDHT
	ds    *pebbleds.Datastore
	dir   string
	store *Store
}

// testOpts tune newTestNodes.
type testOpts struct {
	// findTimeout is Config.FindProvidersTimeout (default 2s).
	findTimeout time.Duration
	// noRouter builds Stores without a content router.
	noRouter bool
	// maxDepth and maxBlocks are Config.MaxDAGDepth and MaxDAGBlocks.
	maxDepth  int
	maxBlocks int64
	// onUnpin is Config.OnUnpin.
	onUnpin func(cid.Cid)
	// blocksInDatastore keeps every block in pebble (no Config.BlockDir),
	// as the Store did before large blocks became files.
	blocksInDatastore bool
}

// newHost makes a TCP-only libp2p host on 127.0.0.1 with an OS-chosen port.
func newHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		tb.Fatalf("new host: %v", err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

// newTestNode makes one node; its DHT has no bootstrap peers.
func newTestNode(tb testing.TB, o testOpts) *testNode {
	tb.Helper()
	n := &testNode{h: newHost(tb), dir: tb.TempDir()}
	ds, err := pebbledsOpen(n.dir)
	if err != nil {
		tb.Fatalf("open pebble: %v", err)
	}
	n.ds = ds
	d, err := dht.New(n.h,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix("/shoal"),
		dht.Datastore(ds),
	)
	if err != nil {
		tb.Fatalf("new dht: %v", err)
	}
	n.dht = d
	n.open(tb, o)
	tb.Cleanup(func() {
		_ = n.store.Close()
		_ = n.dht.Close()
		_ = n.ds.Close()
	})
	return n
}

// open (re)builds the node's Store on its datastore.
func (n *testNode) open(tb testing.TB, o testOpts) {
	tb.Helper()
	if o.findTimeout == 0 {
		o.findTimeout = 2 * time.Second
	}
	cfg := Config{
		Logger:               slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Host:                 n.h,
		Datastore:            n.ds,
		Router:               n.dht,
		FindProvidersTimeout: o.findTimeout,
		MaxDAGDepth:          o.maxDepth,
		MaxDAGBlocks:         o.maxBlocks,
		OnUnpin:              o.onUnpin,
		BlockDir:             filepath.Join(n.dir, "blocks"),
	}
	if o.blocksInDatastore {
		cfg.BlockDir = ""
	}
	if o.noRouter {
		cfg.Router = nil
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("new store: %v", err)
	}
	n.store = s
}

func (n *testNode) info() peer.AddrInfo {
	return peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()}
}

// newTestNodes makes n nodes; line connects each to the next only, else
// every pair is connected. It waits until every DHT has a peer.
func newTestNodes(tb testing.TB, n int, line bool, o testOpts) []*testNode {
	tb.Helper()
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = newTestNode(tb, o)
	}
	for i := range nodes {
		for j := i + 1; j < n; j++ {
			if line && j != i+1 {
				continue
			}
			connect(tb, nodes[i], nodes[j])
		}
	}
	for _, nd := range nodes {
		waitFor(tb, 10*time.Second, "DHT routing table filled", func() bool {
			return nd.dht.RoutingTable().Size() > 0
		})
	}
	return nodes
}

func connect(tb testing.TB, a, b *testNode) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.h.Connect(ctx, b.info()); err != nil {
		tb.Fatalf("connect: %v", err)
	}
}

func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// randBytes returns n deterministic pseudo-random bytes for seed.
func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	_, _ = r.Read(b)
	return b
}

// randReader streams n deterministic pseudo-random bytes for seed.
func randReader(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}), n)
}

// addBytes adds b as one file.
func addBytes(tb testing.TB, s *Store, b []byte, o AddOptions) cid.Cid {
	tb.Helper()
	c, err := s.Add(testCtx(tb, time.Minute), files.NewBytesFile(b), o)
	if err != nil {
		tb.Fatalf("add %d bytes: %v", len(b), err)
	}
	return c
}

// catAll reads the file c from s.
func catAll(tb testing.TB, ctx context.Context, s *Store, c cid.Cid) []byte {
	tb.Helper()
	r, err := s.Cat(ctx, c)
	if err != nil {
		tb.Fatalf("cat %s: %v", c, err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		tb.Fatalf("read %s: %v", c, err)
	}
	return buf.Bytes()
}

// makeTree writes a directory tree with nested and empty directories, an
// empty file, a 1-byte file, a multi-block file and two symlinks, and
// returns its root.
func makeTree(tb testing.TB) string {
	tb.Helper()
	root := filepath.Join(tb.TempDir(), "tree")
	write := func(rel string, b []byte) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	write("a.txt", []byte("hello shoal\n"))
	write("empty", nil)
	write("one", []byte{'x'})
	write("sub/big.bin", randBytes(7, 1<<20+12345))
	write("sub/deeper/deepest/leaf.txt", []byte("leaf\n"))
	write("sub/deeper/note.md", []byte("# note\n"))
	if err := os.MkdirAll(filepath.Join(root, "emptydir"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(root, "link-to-a")); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink("../../outside/nowhere", filepath.Join(root, "sub", "dangling")); err != nil {
		tb.Fatal(err)
	}
	return root
}

// diffTrees fails unless the trees at a and b hold the same names, file
// bytes and symlink targets.
func diffTrees(tb testing.TB, a, b string) {
	tb.Helper()
	seen := 0
	err := filepath.Walk(a, func(p string, ia os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		ib, err := os.Lstat(q)
		if err != nil {
			tb.Errorf("%s: missing in copy: %v", rel, err)
			return nil
		}
		seen++
		switch {
		case ia.Mode()&os.ModeSymlink != 0:
			ta, _ := os.Readlink(p)
			tb2, err := os.Readlink(q)
			if err != nil || ta != tb2 {
				tb.Errorf("%s: symlink target %q, copy has %q (%v)", rel, ta, tb2, err)
			}
		case ia.IsDir():
			if !ib.IsDir() {
				tb.Errorf("%s: directory became %s", rel, ib.Mode())
			}
		default:
			da, _ := os.ReadFile(p)
			db, err := os.ReadFile(q)
			if err != nil || !bytes.Equal(da, db) {
				tb.Errorf("%s: file content differs (%d vs %d bytes, %v)", rel, len(da), len(db), err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	count := 0
	_ = filepath.Walk(b, func(string, os.FileInfo, error) error { count++; return nil })
	if count != seen {
		tb.Errorf("copy has %d entries, original %d", count, seen)
	}
}

func pebbledsOpen(dir string) (*pebbleds.Datastore, error) {
	if os.Getenv("SHOAL_PEBBLE_DEFAULTS") != "" {
		return pebbleds.NewDatastore(filepath.Join(dir, "datastore"))
	}
	return pebbleds.NewDatastore(filepath.Join(dir, "datastore"), pebbleds.WithPebbleOpts(PebbleOptions()))
}
