package market

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// denyPolicy refuses the requesters in deny before and after the spec.
type denyPolicy map[peer.ID]bool

func (d denyPolicy) refusal(p peer.ID) error {
	if d[p] {
		return &bidding.Refusal{Code: bidding.CodeRequesterDenied, Reason: "requester " + p.String() + " not in allowed peers"}
	}
	return nil
}
func (d denyPolicy) Admit(_ context.Context, r AdmitRequest) error     { return d.refusal(r.Requester) }
func (d denyPolicy) AdmitRequester(_ context.Context, p peer.ID) error { return d.refusal(p) }
func (d denyPolicy) AllowAnnounce(peer.ID, peer.ID) bool               { return true }
func (d denyPolicy) AllowStream(peer.ID, protocol.ID) bool             { return true }

// rawRequester is a host that publishes announcements of its own making
// on the topic: no market, so the test chooses every field.
type rawRequester struct {
	*testPeer
	topic *pubsub.Topic
}

func newRawRequester(t *testing.T, psOpts ...pubsub.Option) *rawRequester {
	t.Helper()
	h, k := newTestHost(t)
	p := &testPeer{h: h, key: k, ps: newTestPubSub(t, h, psOpts...)}
	topic, err := p.ps.Join(bidding.AnnounceTopic)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe() // be a full member of the mesh
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	return &rawRequester{testPeer: p, topic: topic}
}

// bigSpec is a job whose spec block is too large to travel inline.
func bigSpec(name string) *jobspec.Spec {
	return testJobSpec(name, func(s *jobspec.Spec) {
		for range 17 {
			s.Engine.Wasm.Args = append(s.Engine.Wasm.Args, strings.Repeat("x", jobspec.MaxArgLen))
		}
	})
}

// announce publishes a signed announcement of spec by CID with addrs.
func (r *rawRequester) announce(t *testing.T, spec *jobspec.Spec, addrs []ma.Multiaddr, attempt int) cid.Cid {
	t.Helper()
	a, err := bidding.NewAnnounce(spec, r.h.ID(), addrs, attempt, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a.Spec != nil {
		t.Fatal("the test spec travels inline; make it larger")
	}
	data, err := bidding.Seal(r.key, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.topic.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	return a.JobCID
}

// waitTopicPeers waits until the raw requester sees n peers on the topic.
func (r *rawRequester) waitTopicPeers(t *testing.T, n int) {
	t.Helper()
	h, err := r.topic.EventHandler()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(r.topic.ListPeers()) < n {
		if _, err := h.NextPeerEvent(ctx); err != nil {
			t.Fatalf("topic peers of the requester: %v", err)
		}
	}
}

// TestAnnounceByCIDFromRefusedRequesterFetchesNothing: a node whose policy
// refuses the requester declines an announcement by CID without fetching
// its spec.
func TestAnnounceByCIDFromRefusedRequesterFetchesNothing(t *testing.T) {
	req := newRawRequester(t)
	declines := make(chan *bidding.Decline, 4)
	req.h.SetStreamHandler(bidding.ProtocolBid, func(s network.Stream) {
		defer s.Close()
		if msg, _, err := recv(s, bidding.MaxMessageSize, bidding.KindDecline); err == nil {
			declines <- msg.(*bidding.Decline)
		}
	})
	victim := newTestPeer(t, nil, func(c *Config) { c.Policy = denyPolicy{req.h.ID(): true} })
	connect(t, req.h, victim.h)
	waitTopic(t, victim.m, 1)
	req.waitTopicPeers(t, 1)

	spec := bigSpec("refused")
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(500 * time.Millisecond) // re-announce until gossip carries it
	defer tick.Stop()
	for attempt := 1; ; attempt++ {
		req.announce(t, spec, nil, attempt)
		select {
		case d := <-declines:
			if d.Code != bidding.CodeRequesterDenied {
				t.Fatalf("declined with %s (%s), want %s", d.Code, d.Reason, bidding.CodeRequesterDenied)
			}
		case c := <-victim.content.fetched:
			t.Fatalf("the node fetched %s for a requester its policy refuses", c)
		case <-tick.C:
			continue
		case <-deadline:
			t.Fatal("no decline from the refusing node")
		}
		break
	}
	if n := victim.content.fetches.Load(); n != 0 {
		t.Fatalf("the node fetched %d block(s) for a requester its policy refuses", n)
	}
}

// TestAnnounceAddrsAreNeverDialled: the addresses in a gossiped
// announcement are not dialled, even by a node that fetches the spec: here
// they point at a listener that is no libp2p peer at all.
func TestAnnounceAddrsAreNeverDialled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	target, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}

	// requester - relay - victim: the victim hears the job by gossip only.
	req := newRawRequester(t)
	relay := newRawRequester(t)
	victim := newTestPeer(t, nil, nil)
	connect(t, req.h, relay.h)
	connect(t, relay.h, victim.h)
	waitTopic(t, victim.m, 1)
	relay.waitTopicPeers(t, 2)
	req.waitTopicPeers(t, 1)

	spec := bigSpec("dial-me")
	var job cid.Cid
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(500 * time.Millisecond) // re-announce until the mesh carries it
	defer tick.Stop()
	for attempt := 1; ; attempt++ {
		job = req.announce(t, spec, []ma.Multiaddr{target}, attempt)
		select {
		case c := <-victim.content.fetched:
			if c != job {
				t.Fatalf("fetched %s, announced %s", c, job)
			}
		case <-tick.C:
			continue
		case <-deadline:
			t.Fatal("the victim never handled the announcement")
		}
		break
	}
	// The fetch has returned: any dial it made has reached the listener.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(500 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("the node dialled an address taken from a gossiped announcement")
	}
	for _, a := range victim.h.Peerstore().Addrs(req.h.ID()) {
		if a.Equal(target) {
			t.Fatalf("the announcement's address %s reached the peerstore", a)
		}
	}
}

// TestAnnounceFloodIsBounded: a flood of announcements whose specs never
// arrive occupies at most maxAnnounceConcurrency handlers; the rest are
// dropped and counted.
func TestAnnounceFloodIsBounded(t *testing.T) {
	const n = 300
	req := newRawRequester(t, pubsub.WithPeerOutboundQueueSize(4*n))
	victim := newTestPeer(t, nil, nil, pubsub.WithValidateQueueSize(4*n))
	victim.content.hang = true
	connect(t, req.h, victim.h)
	waitTopic(t, victim.m, 1)
	req.waitTopicPeers(t, 1)

	base := runtime.NumGoroutine()
	// Flood in batches until every handler is busy and some announcements
	// were dropped (gossip itself may lose part of a burst).
	handled := func() int64 { return victim.content.fetches.Load() + victim.m.AnnouncementsDropped() }
	settled := func() bool {
		return victim.m.AnnouncementsDropped() > 0 && victim.content.inflight.Load() >= maxAnnounceConcurrency
	}
	sent := 0
	end := time.Now().Add(60 * time.Second)
	for batch := 0; !settled() && time.Now().Before(end); batch++ {
		if sent < n {
			spec := bigSpec(fmt.Sprintf("flood-%d", batch))
			for attempt := 1; attempt <= n/6; attempt++ {
				req.announce(t, spec, nil, attempt)
				sent++
			}
		}
		for wait := time.Now().Add(time.Second); !settled() && time.Now().Before(wait); {
			time.Sleep(20 * time.Millisecond) // polling counters: no event to wait on
		}
	}
	got := runtime.NumGoroutine()
	// The bound is maxAnnounceConcurrency, and small against the flood.
	bound := int64(min(maxAnnounceConcurrency, n/4))
	if m := victim.content.maxInflight.Load(); m > bound {
		t.Fatalf("%d announcements handled at once, bound %d", m, bound)
	}
	if got-base > int(bound)+100 {
		t.Fatalf("goroutines grew from %d to %d under a flood of %d announcements", base, got, n)
	}
	if d := victim.m.AnnouncementsDropped(); d == 0 {
		t.Fatalf("%d dropped, %d handled of %d sent", d, handled(), sent)
	}
	t.Logf("%d announcements sent, %d handled: %d fetching at most at once, %d dropped; goroutines %d -> %d", sent, handled(), victim.content.maxInflight.Load(), victim.m.AnnouncementsDropped(), base, got)
}
