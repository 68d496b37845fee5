package node

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/p2p"
)

// acceptAll is the validator of an attacker's DHT: it stores and sends
// any value.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

func testNode(t *testing.T, opts ...Option) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := DefaultConfig(ProfileLocal)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Jobs.DisableDocker = true
	n, err := New(ctx, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func jobCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagCBOR, h)
}

// TestForgedReceiptRecords: an attacker's DHT node that stores anything
// puts receipt records into a network of two real nodes; those with a bad
// signature or under another job's key are rejected by every node's
// validator (never stored, never returned), while a genuine record put
// the same way is found (so the test can fail).
func TestForgedReceiptRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes and a DHT")
	}
	n1 := testNode(t)
	n2 := testNode(t)
	// The attacker: a plain host and DHT under Shoal's prefix that
	// accepts any receipt record.
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ad, err := p2p.NewDHT(h, nil, nil, dht.NamespacedValidator(bidding.ReceiptNamespace, acceptAll{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ad.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info := func(n *Node) peer.AddrInfo { return peer.AddrInfo{ID: n.ID(), Addrs: n.Host.Addrs()} }
	for _, c := range []struct {
		from interface {
			Connect(context.Context, peer.AddrInfo) error
		}
		to peer.AddrInfo
	}{{h, info(n1)}, {h, info(n2)}, {n1.Host, info(n2)}} {
		if err := c.from.Connect(ctx, c.to); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*dht.IpfsDHT{ad, n1.DHT, n2.DHT} {
		if err := <-d.RefreshRoutingTable(); err != nil {
			t.Logf("refresh: %v", err)
		}
	}

	// A receipt of job by n1's executor, and records of it.
	job, other := jobCID(t, "job"), jobCID(t, "another job")
	out := jobCID(t, "outputs")
	now := time.Now()
	rc := &bidding.Receipt{JobCID: job, AwardID: bidding.NewAwardID(), Requester: n2.ID(), Executor: n1.ID(),
		OutputsRoot: out, Stdout: out, Stderr: out, StartedAt: now, FinishedAt: now}
	receipt, _, err := bidding.EncodeReceipt(n1.Key(), rc)
	if err != nil {
		t.Fatal(err)
	}
	net := bidding.NetworkID(nil)
	genuine, err := bidding.SealReceiptRecord(n1.Key(), receipt, net, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	rogue, _, _ := crypto.GenerateEd25519Key(nil)
	badSig := func() []byte {
		r := &bidding.ReceiptRecord{Version: bidding.WireVersion, JobCID: job, Network: net, By: n1.ID(), Receipts: [][]byte{receipt}, Published: now}
		payload, err := bidding.SigningBytes(r)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sig, err = rogue.Sign(payload); err != nil {
			t.Fatal(err)
		}
		b, err := bidding.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()

	// A genuine record of another network (a private one, by its swarm
	// key): reuse never crosses a network's boundary.
	otherNet, err := bidding.SealReceiptRecord(n1.Key(), receipt, bidding.NetworkID([]byte("another network's swarm key")), nil, now)
	if err != nil {
		t.Fatal(err)
	}

	memo1, memo2 := &dhtMemo{n: n1, net: net}, &dhtMemo{n: n2, net: net}
	for _, tt := range []struct {
		name   string
		key    cid.Cid // the job whose key the value is put under
		value  []byte
		accept bool
	}{
		{"bad signature", job, badSig, false},
		{"wrong job CID", other, genuine, false},
		{"another network", job, otherNet, false},
		{"genuine", job, genuine, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = ad.PutValue(ctx, bidding.ReceiptRecordKey(tt.key), tt.value) // the attacker's own store takes it
			for i, m := range []*dhtMemo{memo1, memo2} {
				lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
				got, err := m.GetRecord(lctx, tt.key, nil)
				lcancel()
				switch {
				case tt.accept && err != nil:
					t.Fatalf("node %d: the genuine record was not found: %v", i+1, err)
				case !tt.accept && err == nil:
					t.Fatalf("node %d returned a forged record (%d bytes)", i+1, len(got))
				}
				if !tt.accept {
					// Never stored either: the node's own datastore lacks it.
					if rec, err := m.n.DHT.GetValue(ctx, bidding.ReceiptRecordKey(tt.key), dht.Quorum(1)); err == nil {
						t.Fatalf("node %d holds a forged record (%d bytes)", i+1, len(rec))
					} else if errors.Is(err, context.Canceled) {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestReceiptRecordSearchFindsSet: a verified job's lookup does not end on
// the first record found when it is one executor's receipt (here n1's
// own, in its local store, the first answer of every search from n1): it
// goes on to the verified set that n2 holds.
func TestReceiptRecordSearchFindsSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes and a DHT")
	}
	n1, n2, n3 := testNode(t), testNode(t), testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, out := jobCID(t, "verified job"), jobCID(t, "outputs")
	now := time.Now()
	receipt := func(exec *Node) []byte {
		rc := &bidding.Receipt{JobCID: job, AwardID: bidding.NewAwardID(), Requester: n3.ID(), Executor: exec.ID(),
			OutputsRoot: out, Stdout: out, Stderr: out, StartedAt: now, FinishedAt: now}
		b, _, err := bidding.EncodeReceipt(exec.Key(), rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r1, r2 := receipt(n1), receipt(n2)
	net := bidding.NetworkID(nil)
	single, err := bidding.SealReceiptRecord(n1.Key(), r1, net, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	set, err := bidding.SealVerifiedSet(n3.Key(), [][]byte{r1, r2}, net, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	// Each record is put while its node is alone, so it stays in that
	// node's own store (the put to no peers fails after storing locally).
	key := bidding.ReceiptRecordKey(job)
	_ = n1.DHT.PutValue(ctx, key, single)
	_ = n2.DHT.PutValue(ctx, key, set)
	if err := n1.Host.Connect(ctx, peer.AddrInfo{ID: n2.ID(), Addrs: n2.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	// The DHT adds a peer to its table once identify has run on the new
	// connection: no event of the DHT's says so, so its table is polled.
	for n1.DHT.RoutingTable().Find(n2.ID()) == "" {
		select {
		case <-ctx.Done():
			t.Fatal("n2 never entered n1's routing table")
		case <-time.After(10 * time.Millisecond):
		}
	}
	isSet := func(b []byte) bool {
		r, err := bidding.OpenReceiptRecord(b, key, net)
		return err == nil && r.Set()
	}
	got, err := (&dhtMemo{n: n1, net: net}).GetRecord(ctx, job, isSet)
	if err != nil {
		t.Fatal(err)
	}
	if !isSet(got) {
		t.Fatalf("the lookup ended on one executor's receipt (%d bytes), want the verified set n2 holds", len(got))
	}
}

// A node's capability record lists the peers it is connected to (the
// network map's links between other nodes), and is republished soon after
// a new connection, not only at the next refresh a minute later.
func TestCapabilityRecordListsPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes and a DHT")
	}
	n1, n2, n3 := testNode(t), testNode(t), testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	// n1's record as n2 reads it, until it lists p.
	waitListed := func(p peer.ID) {
		t.Helper()
		for {
			b, err := n2.DHT.GetValue(ctx, p2p.CapKey(n1.ID()))
			if err == nil {
				c, err := p2p.OpenCapabilities(b)
				if err != nil {
					t.Fatal(err)
				}
				if slices.Contains(c.Peers, p) {
					return
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("n1's record never listed %s (last lookup: %v)", p, err)
			case <-time.After(200 * time.Millisecond): // polling the DHT: no event says a record was stored remotely
			}
		}
	}
	connect := func(a, b *Node) {
		t.Helper()
		if err := a.Host.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	// n1's first record goes out once it has a peer: it lists n2.
	connect(n1, n2)
	waitListed(n2.ID())
	<-n1.caps.Published()
	// A later connection is in a record well before the minute's refresh.
	connect(n3, n1)
	waitListed(n3.ID())
}
