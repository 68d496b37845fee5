package p2p

import (
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// ProtocolLimit caps the concurrent streams of one protocol in the
// resource manager: across all peers (Inbound, Outbound) and per peer
// (PeerInbound, PeerOutbound). A stream over a limit is reset when its
// protocol is negotiated, before any handler runs, so a peer opening
// streams in a loop costs little. The limits do not scale with the
// machine's memory.
type ProtocolLimit struct {
	Protocol                  protocol.ID
	Inbound, Outbound         int
	PeerInbound, PeerOutbound int
}

// Memory reserved by the streams of one limited protocol (all peers, and
// one peer). Shoal's protocol messages are at most 68 KiB; the bound is
// for the muxer's buffers.
const (
	protocolMemory     = 256 << 20
	protocolPeerMemory = 64 << 20
)

func addProtocolLimits(cfg *rcmgr.ScalingLimitConfig, limits []ProtocolLimit) {
	for _, l := range limits {
		cfg.AddProtocolLimit(l.Protocol, rcmgr.BaseLimit{
			StreamsInbound: l.Inbound, StreamsOutbound: l.Outbound, Streams: l.Inbound + l.Outbound, Memory: protocolMemory,
		}, rcmgr.BaseLimitIncrease{})
		cfg.AddProtocolPeerLimit(l.Protocol, rcmgr.BaseLimit{
			StreamsInbound: l.PeerInbound, StreamsOutbound: l.PeerOutbound, Streams: l.PeerInbound + l.PeerOutbound, Memory: protocolPeerMemory,
		}, rcmgr.BaseLimitIncrease{})
	}
}
