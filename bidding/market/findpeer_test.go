package market

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// TestReattachFindsExecutorByDHT: a requester that restarts with no
// connection to its executor and no address of it, but a connection to a
// DHT node that knows the executor, finds the executor's addresses by
// FindPeer (Config.PeerRouting) and its first re-attach Query goes
// through. The restarted requester's clock never moves and nothing else
// can connect it to the executor (no DHT refreshes, its DHT a client the
// others do not learn of, the executor without its address), so without
// the lookup the first Query fails ("re-attach to … failed") and the job
// never ends. It completes with the one run's receipt, no failover and no
// second run. The restarted requester's DHT is new, as after a kill -9;
// or it is the one from before the restart, whose routing table still
// holds the executor without an address (kad-dht's FindPeer then reports
// not found, having put the addresses it heard in the peerstore).
func TestReattachFindsExecutorByDHT(t *testing.T) {
	for _, tt := range []struct {
		name     string
		freshDHT bool
	}{
		{name: "new DHT", freshDHT: true},
		{name: "executor left in the routing table"},
	} {
		t.Run(tt.name, func(t *testing.T) { testReattachByDHT(t, tt.freshDHT) })
	}
}

func testReattachByDHT(t *testing.T, freshDHT bool) {
	run := newHeldRun()
	ex := newTestPeer(t, run.runner(), nil)
	boot, _ := newTestHost(t)
	bootDHT, _ := newTestDHT(t, boot, dht.ModeServer)
	newTestDHT(t, ex.h, dht.ModeServer)

	h, k := newTestHost(t)
	reqDHT, closeDHT := newTestDHT(t, h, dht.ModeClient)
	routes := &countingRouting{PeerRouting: reqDHT, of: ex.h.ID()}
	ps := newTestPubSub(t, h)
	content := newTestContent()
	content.h = h
	cfg := Config{Host: h, Key: k, PubSub: ps, Store: dssync.MutexWrap(ds.NewMapDatastore()), Content: content, Runner: &testRunner{},
		PeerRouting: routes,
		Capacity:    jobspec.Resources{MilliCPU: 8000, Memory: 8 << 30, Disk: 100 << 30}, Slots: 2, WorkDir: t.TempDir(), BidWindow: time.Second}
	first, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, ex.h, boot)
	connect(t, h, boot)
	connect(t, h, ex.h)
	waitFor(t, "the bootstrap node's DHT to know the executor", func() bool { return bootDHT.RoutingTable().Find(ex.h.ID()) != "" })
	waitFor(t, "the requester's DHT to know the bootstrap node and the executor", func() bool {
		return reqDHT.RoutingTable().Find(boot.ID()) != "" && reqDHT.RoutingTable().Find(ex.h.ID()) != ""
	})
	waitTopic(t, first, 1)
	id := submitRunning(t, first, "reattach-by-dht", run.started)
	if n := routes.calls.Load(); n != 0 {
		t.Fatalf("%d lookup(s) of the executor while it was connected", n)
	}

	// The requester stops; the restarted one is connected to the
	// bootstrap node only, and neither side has the other's address.
	first.Close()
	_ = h.Network().ClosePeer(ex.h.ID())
	waitFor(t, "the requester's connection to the executor to close", func() bool {
		return len(h.Network().ConnsToPeer(ex.h.ID())) == 0 && len(ex.h.Network().ConnsToPeer(h.ID())) == 0
	})
	h.Peerstore().ClearAddrs(ex.h.ID())
	ex.h.Peerstore().ClearAddrs(h.ID())
	if len(h.Network().ConnsToPeer(boot.ID())) == 0 {
		t.Fatal("the requester lost its connection to the bootstrap node")
	}
	if freshDHT {
		closeDHT()
		reqDHT, _ = newTestDHT(t, h, dht.ModeClient)
		waitFor(t, "the restarted requester's DHT to know the bootstrap node", func() bool { return reqDHT.RoutingTable().Find(boot.ID()) != "" })
		if reqDHT.RoutingTable().Find(ex.h.ID()) != "" {
			t.Fatal("the restarted requester's DHT knows the executor")
		}
		routes.PeerRouting = reqDHT
	}
	cfg.Clock = &manualClock{now: time.Now()}
	second, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	close(run.release) // the receipt comes back on the re-attach Query
	// Done when the job ends, or at once when the first Query failed.
	waitRecord(t, second, id.String(), func(j *Job) bool { return j.State.Terminal() || hasEvent(j, "re-attach to ") }, "end or failed re-attach")
	j, err := second.Jobs().Get(id.String())
	if err != nil {
		t.Fatal(err)
	}
	if hasEvent(j, "re-attach to ") {
		t.Fatalf("the first re-attach Query failed: the restarted requester did not find the executor (%d lookup(s)); events:\n%s", routes.calls.Load(), eventsText(j))
	}
	if routes.calls.Load() == 0 {
		t.Fatalf("the restarted requester re-attached without looking the executor up: the test's premise (no way to the executor) broke; events:\n%s", eventsText(j))
	}
	if j.State != Completed || len(j.Receipts) != 1 || len(j.Late) != 0 || len(j.Awards) != 1 || run.runs.Load() != 1 {
		t.Fatalf("job %s, %d receipt(s), %d late, %d award(s), %d run(s); events:\n%s", j.State, len(j.Receipts), len(j.Late), len(j.Awards), run.runs.Load(), eventsText(j))
	}
	if aw := j.Awards[0]; aw.State == "lost" {
		t.Fatalf("award %s lost (%s): the restarted requester failed over; events:\n%s", aw.ID, aw.Error, eventsText(j))
	}
}

// TestRouteToBoundsAddrs: the transport asks its peer routing only when it
// has neither a connection to the peer nor an address of it, and keeps of
// what it finds no more than an announcement may carry (bidding.MaxAddrs
// addresses of at most bidding.MaxAddrLen bytes). A DHT cannot be made to
// answer this way (its lookup puts what it found in the peerstore itself),
// so the routing here is a table.
func TestRouteToBoundsAddrs(t *testing.T) {
	h, k := newTestHost(t)
	other, _ := newTestHost(t)
	long := ma.StringCast("/dns4/" + strings.Repeat("a", bidding.MaxAddrLen) + ".example/tcp/1")
	var many []ma.Multiaddr
	many = append(many, long)
	for i := range 3 * bidding.MaxAddrs {
		many = append(many, ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 20000+i)))
	}
	errNotFound := errors.New("not found")
	tests := []struct {
		name      string
		peer      func(t *testing.T) peer.ID
		found     []ma.Multiaddr
		err       error
		learn     []ma.Multiaddr // added to the peerstore by the lookup itself, as kad-dht does
		wantCalls int64
		wantAddrs int
		wantErr   bool
	}{
		{name: "unknown peer: bounded addresses", peer: newPeerID, found: many, wantCalls: 1, wantAddrs: bidding.MaxAddrs},
		{name: "unknown peer: lookup fails", peer: newPeerID, err: errNotFound, wantCalls: 1, wantErr: true},
		{name: "unknown peer: only unusable addresses", peer: newPeerID, found: []ma.Multiaddr{long}, wantCalls: 1, wantErr: true},
		{name: "unknown peer: lookup fails, its addresses learnt", peer: newPeerID, err: errNotFound, learn: many[1:3], wantCalls: 1, wantAddrs: 2},
		{name: "address known: no lookup", peer: func(t *testing.T) peer.ID {
			p := newPeerID(t)
			h.Peerstore().AddAddr(p, many[1], time.Minute)
			return p
		}, found: many, wantAddrs: 1},
		{name: "connected: no lookup", peer: func(t *testing.T) peer.ID {
			connect(t, h, other)
			h.Peerstore().ClearAddrs(other.ID())
			return other.ID()
		}, found: many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.peer(t)
			var calls atomic.Int64
			tr := newTransport(h, nil, k, routingFunc(func(_ context.Context, q peer.ID) (peer.AddrInfo, error) {
				calls.Add(1)
				h.Peerstore().AddAddrs(q, tt.learn, time.Minute)
				return peer.AddrInfo{ID: q, Addrs: tt.found}, tt.err
			}))
			err := tr.routeTo(context.Background(), p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("routeTo: %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("routeTo: %v, want it to wrap %v", err, tt.err)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Fatalf("%d lookup(s), want %d", got, tt.wantCalls)
			}
			got := h.Peerstore().Addrs(p)
			if len(got) != tt.wantAddrs {
				t.Fatalf("peerstore holds %d address(es) of the peer, want %d: %v", len(got), tt.wantAddrs, got)
			}
			for _, a := range got {
				if len(a.Bytes()) > bidding.MaxAddrLen {
					t.Fatalf("address of %d bytes kept", len(a.Bytes()))
				}
			}
		})
	}
}

// newTestDHT starts a DHT on h under Shoal's prefix, without refreshes of
// its own: it learns only of the peers h connects to. stop stops it
// before the test ends.
func newTestDHT(t *testing.T, h host.Host, mode dht.ModeOpt) (d *dht.IpfsDHT, stop func()) {
	t.Helper()
	d, err := dht.New(h, dht.Mode(mode), dht.ProtocolPrefix("/shoal"), dht.DisableAutoRefresh())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = d.Close() }) }
	t.Cleanup(stop)
	return d, stop
}

// countingRouting counts the lookups of one peer.
type countingRouting struct {
	routing.PeerRouting
	of    peer.ID
	calls atomic.Int64
}

func (r *countingRouting) FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error) {
	if p == r.of {
		r.calls.Add(1)
	}
	return r.PeerRouting.FindPeer(ctx, p)
}

type routingFunc func(context.Context, peer.ID) (peer.AddrInfo, error)

func (f routingFunc) FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error) {
	return f(ctx, p)
}

// hasEvent reports whether an event's message of j holds part.
func hasEvent(j *Job, part string) bool {
	for _, e := range j.Events {
		if strings.Contains(e.Message, part) {
			return true
		}
	}
	return false
}

// waitFor polls ok until it holds, for at most 30s.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
