package p2p

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
)

// Reachability overrides, for NATConfig.Reachability.
const (
	// ReachabilityAuto lets AutoNAT find out (the default).
	ReachabilityAuto = ""
	// ReachabilityPublic tells libp2p the node is publicly reachable.
	ReachabilityPublic = "public"
	// ReachabilityPrivate tells libp2p the node is behind a NAT.
	ReachabilityPrivate = "private"
)

// RelayHopProtocol is circuit relay v2's hop protocol: a peer that speaks
// it offers the relay service.
const RelayHopProtocol = protocol.ID("/libp2p/circuit/relay/0.2.0/hop")

// NATConfig is how the host gets past NATs (docs/architecture.md,
// "Reachability, relays and hole punching"). Every node runs the circuit
// relay v2 client transport, identify's observed addresses, AutoNAT v1 and
// v2 (client and rate-limited service) and DCUtR hole punching; the rest is
// chosen here.
type NATConfig struct {
	// PortMapping asks the home router for a port with UPnP / NAT-PMP.
	// Off by default: it talks to the LAN's gateway.
	PortMapping bool
	// StaticRelays are the relays a private node reserves a slot on; when
	// empty it picks relays among its connected peers.
	StaticRelays []peer.AddrInfo
	// Reachability overrides AutoNAT (ReachabilityAuto, Public, Private).
	Reachability string
	// HolePunches, when set, records hole-punch attempts (shoal doctor).
	HolePunches *HolePunchLog
}

// StartRelay starts the circuit relay v2 service on h with libp2p's
// default resource limits (128 reservations, 16 circuits per peer and 2
// min / 128 KiB per circuit), counting what it carries in stats (may be
// nil). The node calls it once AutoNAT found it publicly reachable: v2's
// per-address dial-back or v1's verdict (libp2p's own EnableRelayService
// waits for v1 only, whose servers stop serving while they are private,
// so a relay whose peers are all behind NATs would never start).
func StartRelay(h host.Host, stats *RelayStats) (io.Closer, error) {
	ro := []relayv2.Option{relayv2.WithResources(relayv2.DefaultResources())}
	if stats != nil {
		ro = append(ro, relayv2.WithMetricsTracer(stats))
	}
	r, err := relayv2.New(h, ro...)
	if err != nil {
		return nil, fmt.Errorf("p2p: start relay service: %w", err)
	}
	return r, nil
}

// ValidateReachability checks a reachability override.
func ValidateReachability(r string) error {
	switch r {
	case ReachabilityAuto, ReachabilityPublic, ReachabilityPrivate:
		return nil
	}
	return fmt.Errorf("unknown reachability %q: use \"\" (AutoNAT decides), %q or %q", r, ReachabilityPublic, ReachabilityPrivate)
}

// natOptions are the host options of cfg. hostRef is filled once the host
// exists: the relay peer source reads its peers.
// reg, when set, also gets the hole-punch metrics (holepunch.WithTracer
// alone would replace the metrics tracer libp2p adds).
func natOptions(cfg NATConfig, reg prometheus.Registerer, hostRef *host.Host) ([]libp2p.Option, error) {
	if err := ValidateReachability(cfg.Reachability); err != nil {
		return nil, err
	}
	var hp []holepunch.Option
	switch {
	case cfg.HolePunches != nil && reg != nil:
		hp = append(hp, holepunch.WithMetricsAndEventTracer(holepunch.NewMetricsTracer(holepunch.WithRegisterer(reg)), cfg.HolePunches))
	case cfg.HolePunches != nil:
		hp = append(hp, holepunch.WithTracer(cfg.HolePunches))
	}
	opts := []libp2p.Option{
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(hp...),
		libp2p.EnableAutoNATv2(),
		libp2p.EnableNATService(),
	}
	if cfg.PortMapping {
		opts = append(opts, libp2p.NATPortMap())
	}
	// A node that finds itself private reserves a slot on a relay and
	// advertises /p2p-circuit addresses; boot delay 0 so it happens as
	// soon as AutoNAT says so.
	ar := []autorelay.Option{autorelay.WithBootDelay(0), autorelay.WithNumRelays(2), autorelay.WithMinCandidates(1)}
	if len(cfg.StaticRelays) > 0 {
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(cfg.StaticRelays, ar...))
	} else {
		opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(relaysAmongPeers(hostRef), ar...))
	}
	switch cfg.Reachability {
	case ReachabilityPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachabilityPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	return opts, nil
}

// relaysAmongPeers is an autorelay peer source: the connected peers that
// offer the relay service (identify told us they speak the hop protocol).
func relaysAmongPeers(hostRef *host.Host) autorelay.PeerSource {
	return func(ctx context.Context, num int) <-chan peer.AddrInfo {
		out := make(chan peer.AddrInfo, num)
		defer close(out)
		h := *hostRef
		if h == nil {
			return out
		}
		for _, p := range h.Network().Peers() {
			if len(out) == num {
				break
			}
			if ok, _ := h.Peerstore().SupportsProtocols(p, RelayHopProtocol); len(ok) == 0 {
				continue
			}
			if !HasDirectConn(h, p) {
				continue // a relay reached through a relay is no use
			}
			out <- peer.AddrInfo{ID: p, Addrs: h.Peerstore().Addrs(p)}
		}
		return out
	}
}

// IsRelayAddr reports whether a is a /p2p-circuit address.
func IsRelayAddr(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// Connection types reported by ConnType.
const (
	ConnDirect  = "direct"
	ConnRelayed = "relayed"
	ConnNone    = "none"
)

// HasDirectConn reports whether h holds a connection to p that is neither
// limited nor through a relay: the only kind bitswap may use.
func HasDirectConn(h host.Host, p peer.ID) bool {
	for _, c := range h.Network().ConnsToPeer(p) {
		if ConnTypeOf(c) == ConnDirect {
			return true
		}
	}
	return false
}

// ConnType is how h is connected to p: ConnDirect if any connection is
// direct, ConnRelayed if only relayed (limited) ones exist, else ConnNone.
func ConnType(h host.Host, p peer.ID) string {
	conns := h.Network().ConnsToPeer(p)
	if len(conns) == 0 {
		return ConnNone
	}
	if HasDirectConn(h, p) {
		return ConnDirect
	}
	return ConnRelayed
}

// ConnTypeOf names one connection's type (ConnDirect or ConnRelayed).
func ConnTypeOf(c network.Conn) string {
	if c.Stat().Limited || IsRelayAddr(c.RemoteMultiaddr()) {
		return ConnRelayed
	}
	return ConnDirect
}

// RelaysInUse lists the relays in h's /p2p-circuit addresses.
func RelaysInUse(h host.Host) []peer.ID {
	var out []peer.ID
	for _, a := range h.Addrs() {
		if !IsRelayAddr(a) {
			continue
		}
		v, err := a.ValueForProtocol(ma.P_P2P)
		if err != nil {
			continue
		}
		id, err := peer.Decode(v)
		if err != nil || slices.Contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}
