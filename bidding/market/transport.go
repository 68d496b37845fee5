package market

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/bidding"
)

// transport is the network as the job protocol uses it, shared by the
// requester and the executor: the libp2p host (streams to peers and their
// framing), gossipsub's announcement topic, and in-process pipes to this
// node's own handlers when a node dials itself (it may run its own jobs).
// It owns the host's stream handlers and the topic, and holds no job or
// award state: its only lock guards the table of local handlers.
//
// The executor sees it through executorLink, so that the executor's
// decisions run over net.Pipe in tests, without libp2p.
type transport struct {
	host host.Host
	ps   *pubsub.PubSub
	key  crypto.PrivKey
	self peer.ID
	// routing finds a peer's addresses when the host has neither a
	// connection to it nor an address of it (routeTo); nil: none.
	routing routing.PeerRouting

	topic *pubsub.Topic
	sub   *pubsub.Subscription

	// wg tracks the goroutines serving in-process pipes.
	wg sync.WaitGroup

	mu     sync.Mutex
	local  map[protocol.ID]handler // the handlers dial serves this node with
	protos []protocol.ID           // registered on the host
}

// handler serves one inbound stream (or in-process pipe) from remote.
type handler func(conn io.ReadWriteCloser, remote peer.ID)

// verdict is a decision on a gossip announcement before it spreads.
type verdict int

const (
	// verdictReject: invalid; its sender is penalised.
	verdictReject verdict = iota
	// verdictAccept: deliver and forward.
	verdictAccept
	// verdictIgnore: neither delivered nor forwarded, and nobody is
	// penalised (an over-rate author: the policy scores it down itself).
	verdictIgnore
)

// pubsub is v as gossipsub's validation result.
func (v verdict) pubsub() pubsub.ValidationResult {
	switch v {
	case verdictAccept:
		return pubsub.ValidationAccept
	case verdictIgnore:
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationReject
}

// vetFunc decides on announcement data authored by author and received
// from from; with verdictAccept it returns the opened announcement.
type vetFunc func(from, author peer.ID, data []byte) (*bidding.Announce, verdict)

// foundAddrTTL is how long the peerstore keeps the addresses routeTo
// found: enough for the dial that follows (a connection, once open, keeps
// its peer's addresses as long as it lasts).
const foundAddrTTL = time.Minute

func newTransport(h host.Host, ps *pubsub.PubSub, key crypto.PrivKey, r routing.PeerRouting) *transport {
	return &transport{host: h, ps: ps, key: key, self: h.ID(), routing: r, local: map[protocol.ID]handler{}}
}

// join registers vet as the announcement topic's validator, joins the
// topic and subscribes to it.
func (t *transport) join(vet vetFunc) error {
	validate := func(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		a, v := vet(from, msg.GetFrom(), msg.Data)
		if v == verdictAccept {
			msg.ValidatorData = a
		}
		return v.pubsub()
	}
	if err := t.ps.RegisterTopicValidator(bidding.AnnounceTopic, validate); err != nil {
		return fmt.Errorf("market: announce validator: %w", err)
	}
	var err error
	if t.topic, err = t.ps.Join(bidding.AnnounceTopic); err != nil {
		_ = t.ps.UnregisterTopicValidator(bidding.AnnounceTopic)
		return fmt.Errorf("market: join %s: %w", bidding.AnnounceTopic, err)
	}
	if t.sub, err = t.topic.Subscribe(); err != nil {
		_ = t.topic.Close()
		_ = t.ps.UnregisterTopicValidator(bidding.AnnounceTopic)
		return fmt.Errorf("market: subscribe %s: %w", bidding.AnnounceTopic, err)
	}
	return nil
}

// handle serves proto with h: streams from peers that allow admits (nil:
// all; a refused stream is reset), and this node's own dials.
func (t *transport) handle(proto protocol.ID, allow func(peer.ID, protocol.ID) bool, h handler) {
	t.mu.Lock()
	t.local[proto] = h
	t.protos = append(t.protos, proto)
	t.mu.Unlock()
	t.host.SetStreamHandler(proto, func(s network.Stream) {
		remote := s.Conn().RemotePeer()
		if allow != nil && !allow(remote, proto) {
			_ = s.Reset()
			return
		}
		h(s, remote)
	})
}

// stopHandling removes the stream handlers: no new inbound streams.
func (t *transport) stopHandling() {
	t.mu.Lock()
	protos := t.protos
	t.protos = nil
	t.mu.Unlock()
	for _, p := range protos {
		t.host.RemoveStreamHandler(p)
	}
}

// stopGossip ends the subscription: nextAnnounce returns an error.
func (t *transport) stopGossip() {
	if t.sub != nil {
		t.sub.Cancel()
	}
}

// close waits for the in-process pipes still served and leaves the topic.
// The components that dial must have stopped.
func (t *transport) close() {
	t.stopHandling()
	t.stopGossip()
	t.wg.Wait()
	if t.topic != nil {
		_ = t.topic.Close()
		_ = t.ps.UnregisterTopicValidator(bidding.AnnounceTopic)
	}
}

// nextAnnounce returns the next announcement of another node heard on the
// topic (validated by join's vet), or an error once ctx ends or gossip
// stopped.
func (t *transport) nextAnnounce(ctx context.Context) (*bidding.Announce, error) {
	for {
		msg, err := t.sub.Next(ctx)
		if err != nil {
			return nil, err
		}
		if a, ok := msg.ValidatorData.(*bidding.Announce); ok && a.Requester != t.self {
			return a, nil // our own jobs get our bid in-process
		}
	}
}

// publish sends sealed announcement data to everyone on the topic.
func (t *transport) publish(ctx context.Context, data []byte) error {
	return t.topic.Publish(ctx, data)
}

// topicPeers lists the peers known on the announcement topic.
func (t *transport) topicPeers() []peer.ID { return t.topic.ListPeers() }

// waitTopicPeers blocks until at least n peers are known on the
// announcement topic (driven by gossipsub's peer events) or ctx ends.
func (t *transport) waitTopicPeers(ctx context.Context, n int) error {
	h, err := t.topic.EventHandler()
	if err != nil {
		return err
	}
	defer h.Cancel()
	// Peer events wake the loop; a short re-check covers events that
	// gossipsub delivers before ListPeers reflects them.
	for len(t.topic.ListPeers()) < n {
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

// connected reports whether a connection to p is open.
func (t *transport) connected(p peer.ID) bool {
	return t.host.Network().Connectedness(p) == network.Connected
}

// awaitConnection calls f once a connection to p opens after the call (a
// connection already open does not count), unless stop is called first.
// It subscribes to the host's EvtPeerConnectednessChanged before it
// returns.
func (t *transport) awaitConnection(p peer.ID, f func()) (stop func()) {
	sub, err := t.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return func() {}
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = sub.Close() }) }
	go func() {
		defer stop()
		for e := range sub.Out() {
			if ev, ok := e.(event.EvtPeerConnectednessChanged); ok && ev.Peer == p && ev.Connectedness == network.Connected {
				f()
				return
			}
		}
	}()
	return stop
}

// addAddrs lets the host dial p at addrs for ttl.
func (t *transport) addAddrs(p peer.ID, addrs []ma.Multiaddr, ttl time.Duration) {
	t.host.Peerstore().AddAddrs(p, addrs, ttl)
}

// addrs are the host's addresses as an announcement may carry them
// (boundAddrs).
func (t *transport) addrs() []ma.Multiaddr { return boundAddrs(t.host.Addrs()) }

// boundAddrs are the first bidding.MaxAddrs of addrs that are at most
// bidding.MaxAddrLen bytes each: the bounds of the addresses a message
// carries, kept for those a lookup finds too.
func boundAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if len(out) == bidding.MaxAddrs {
			break
		}
		if a != nil && len(a.Bytes()) <= bidding.MaxAddrLen {
			out = append(out, a)
		}
	}
	return out
}

// routeTo lets the host dial p when it could not: with no connection to p
// and no address of p in the peerstore (a restarted requester re-attaching
// to its executor, docs/protocol.md §4), it asks the peer routing (the
// DHT) for p, bounded by ctx, and adds the addresses found (boundAddrs)
// for foundAddrTTL. It fails only when it asked and the host still has
// no way to p; without a peer routing it does nothing and the dial fails
// as before.
func (t *transport) routeTo(ctx context.Context, p peer.ID) error {
	if t.routing == nil || t.dialable(p) {
		return nil
	}
	ai, err := t.routing.FindPeer(ctx, p)
	if err != nil {
		if t.dialable(p) {
			// kad-dht's FindPeer reports "not found" when p was in its
			// routing table without an address, though the lookup
			// heard p's addresses from another peer and added them to
			// the peerstore itself (or connected to p): dial those.
			return nil
		}
		return fmt.Errorf("no address of %s known, and the peer routing found none: %w", p, err)
	}
	if addrs := boundAddrs(ai.Addrs); ai.ID == p && len(addrs) > 0 {
		t.addAddrs(p, addrs, foundAddrTTL)
	}
	if !t.dialable(p) {
		return fmt.Errorf("no address of %s known, and the peer routing found none usable (%d found)", p, len(ai.Addrs))
	}
	return nil
}

// dialable reports whether the host has a connection to p or an address
// of it.
func (t *transport) dialable(p peer.ID) bool {
	return len(t.host.Network().ConnsToPeer(p)) > 0 || len(t.host.Peerstore().Addrs(p)) > 0
}

// providerHints are the peers an executor should ask for the job's content
// first: the requester itself.
func (t *transport) providerHints() []peer.AddrInfo {
	return []peer.AddrInfo{{ID: t.self, Addrs: t.addrs()}}
}

// openStream opens a stream to p on proto, bounded by StreamTimeout. It
// dials only what the host knows of p: a bid answering a gossiped
// announcement must not cost a DHT lookup per announcement (dial looks
// peers up).
func (t *transport) openStream(ctx context.Context, p peer.ID, proto protocol.ID) (io.ReadWriteCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, bidding.StreamTimeout)
	defer cancel()
	s, err := t.host.NewStream(network.WithAllowLimitedConn(ctx, string(proto)), p, proto)
	if err != nil {
		return nil, fmt.Errorf("open %s to %s: %w", proto, p, err)
	}
	return s, nil
}

// dial opens a protocol stream to p, or an in-process pipe served by this
// node's own handler of proto when p is this node. It is for the streams
// of an award this node holds (the requester's Award, Query and Cancel,
// the executor's live logs): when the host has no way to p, it looks p up
// first (routeTo), within the same StreamTimeout as the stream.
func (t *transport) dial(ctx context.Context, p peer.ID, proto protocol.ID) (io.ReadWriteCloser, error) {
	if p != t.self {
		ctx, cancel := context.WithTimeout(ctx, bidding.StreamTimeout)
		defer cancel()
		if err := t.routeTo(ctx, p); err != nil {
			return nil, fmt.Errorf("open %s to %s: %w", proto, p, err)
		}
		return t.openStream(ctx, p, proto)
	}
	t.mu.Lock()
	h := t.local[proto]
	t.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("open %s to this node: not served", proto)
	}
	a, b := net.Pipe()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		h(selfPipe{b, t.self}, t.self)
	}()
	return selfPipe{a, t.self}, nil
}

// selfPipe is one end of the in-process pipe of a node's stream to itself
// (dial): only this process writes to it, so recv does not verify again
// the signatures it made (bidding.OpenOwn).
type selfPipe struct {
	net.Conn
	self peer.ID
}

// send seals msg with the node's key and writes it as one frame.
func (t *transport) send(w io.Writer, msg bidding.Message) error {
	return sealTo(t.key, w, msg)
}

// sealTo seals msg with key and writes it as one frame.
func sealTo(key crypto.PrivKey, w io.Writer, msg bidding.Message) error {
	b, err := bidding.Seal(key, msg)
	if err != nil {
		return err
	}
	return bidding.WriteMsg(w, b)
}

// Framing helpers, for streams of the host and in-process pipes alike.

// recv reads one frame of at most max bytes and opens it as one of kinds
// (signature verified). It also returns the frame.
func recv(r io.Reader, max int, kinds ...bidding.Kind) (bidding.Message, []byte, error) {
	b, err := bidding.ReadMsg(r, max)
	if err != nil {
		return nil, nil, err
	}
	var msg bidding.Message
	if p, ok := r.(selfPipe); ok {
		msg, err = bidding.OpenOwn(b, p.self, kinds...) // sealed by this process
	} else {
		msg, err = bidding.Open(b, kinds...)
	}
	if err != nil {
		return nil, nil, err
	}
	return msg, b, nil
}

// isReset reports whether err is a stream reset (not a clean end).
func isReset(err error) bool { return errors.Is(err, network.ErrReset) }

// reset aborts s: a stream is reset, anything else closed.
func reset(s io.Closer) {
	if x, ok := s.(interface{ Reset() error }); ok {
		_ = x.Reset()
		return
	}
	_ = s.Close()
}

// closeWrite closes the writing half of s when it has one.
func closeWrite(s any) {
	if x, ok := s.(interface{ CloseWrite() error }); ok {
		_ = x.CloseWrite()
	}
}

// deadline sets a read/write deadline on s when it supports one.
func deadline(s any, d time.Duration) {
	type dl interface{ SetDeadline(time.Time) error }
	if x, ok := s.(dl); ok {
		if d <= 0 {
			_ = x.SetDeadline(time.Time{})
		} else {
			_ = x.SetDeadline(time.Now().Add(d))
		}
	}
}

// writeDeadline sets only the write deadline of s (when supported).
func writeDeadline(s any, d time.Duration) {
	type dl interface{ SetWriteDeadline(time.Time) error }
	if x, ok := s.(dl); ok {
		_ = x.SetWriteDeadline(time.Now().Add(d))
	}
}

// noReadDeadline clears the read deadline of s (when supported).
func noReadDeadline(s any) {
	type dl interface{ SetReadDeadline(time.Time) error }
	if x, ok := s.(dl); ok {
		_ = x.SetReadDeadline(time.Time{})
	}
}

func newBlock(data []byte, c cid.Cid) (blocks.Block, error) { return blocks.NewBlockWithCid(data, c) }
