package p2p

import (
	"fmt"
	"github.com/shoalnet/shoal/internal/logging"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/pnet"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

var log = logging.Logger("p2p")

// Connection manager defaults. The resource manager's connection limit is
// derived from ConnHighWater so the two never conflict: the connection manager
// trims before the resource manager refuses.
const (
	DefaultConnLowWater  = 64
	DefaultConnHighWater = 192
	DefaultConnGrace     = 20 * time.Second
)

// HostConfig is what NewHost needs to build a libp2p host.
type HostConfig struct {
	Identity crypto.PrivKey
	// ListenAddrs are multiaddrs to listen on (TCP and/or QUIC).
	ListenAddrs []string
	// AnnounceAddrs, when set, replace the addresses the host advertises.
	AnnounceAddrs []string
	// PSK, when non-nil, makes the host join a private network. libp2p's
	// private networks work over TCP only, so QUIC listen addresses are
	// dropped (and logged).
	PSK pnet.PSK
	// ConnLowWater/ConnHighWater/ConnGrace configure the connection manager;
	// zero values take the defaults above.
	ConnLowWater, ConnHighWater int
	ConnGrace                   time.Duration
	// ProtocolLimits cap the streams of given protocols in the resource
	// manager (see limits.go); other protocols keep libp2p's defaults.
	ProtocolLimits []ProtocolLimit
	// Registerer receives go-libp2p's own metrics (resource manager,
	// swarm, identify, event bus...): one registry per node, so that two
	// hosts in one process do not both register with Prometheus' default
	// registry. Nil: libp2p's metrics are off.
	Registerer prometheus.Registerer
	// NAT configures reachability, relays and hole punching (nat.go).
	NAT NATConfig
}

// NewHost builds a libp2p host from cfg: TCP and QUIC transports (TCP only
// under a PSK), Noise and TLS security, yamux, a connection manager, a
// resource manager whose limits leave room above the connection manager's
// high water mark, and the NAT traversal of cfg.NAT (circuit relay v2
// client, AutoNAT, DCUtR).
func NewHost(cfg HostConfig) (host.Host, error) {
	if cfg.Identity == nil {
		return nil, fmt.Errorf("p2p: host needs an identity key")
	}
	low, high, grace := cfg.ConnLowWater, cfg.ConnHighWater, cfg.ConnGrace
	if low <= 0 {
		low = DefaultConnLowWater
	}
	if high <= 0 {
		high = DefaultConnHighWater
	}
	if high < low {
		return nil, fmt.Errorf("p2p: connection manager high water %d is below low water %d", high, low)
	}
	if grace <= 0 {
		grace = DefaultConnGrace
	}
	cm, err := connmgr.NewConnManager(low, high, connmgr.WithGracePeriod(grace))
	if err != nil {
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	rm, err := newResourceManager(high, cfg.ProtocolLimits...)
	if err != nil {
		return nil, err
	}

	listen := cfg.ListenAddrs
	if cfg.PSK != nil {
		var tcpOnly []string
		for _, a := range listen {
			if isQUIC(a) {
				continue
			}
			tcpOnly = append(tcpOnly, a)
		}
		if len(tcpOnly) != len(listen) {
			log.Info("private network (swarm.key): QUIC switched off, libp2p private networks work over TCP only", "dropped", len(listen)-len(tcpOnly))
		}
		listen = tcpOnly
	}
	for _, a := range listen {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return nil, fmt.Errorf("p2p: invalid listen address %q: %w", a, err)
		}
	}

	opts := []libp2p.Option{
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
	}
	if cfg.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	var hostRef host.Host
	natOpts, err := natOptions(cfg.NAT, cfg.Registerer, &hostRef)
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	opts = append(opts, natOpts...)
	if cfg.PSK != nil {
		opts = append(opts, libp2p.PrivateNetwork(cfg.PSK))
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	if len(cfg.AnnounceAddrs) > 0 {
		var ann []ma.Multiaddr
		for _, a := range cfg.AnnounceAddrs {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				return nil, fmt.Errorf("p2p: invalid announce address %q: %w", a, err)
			}
			ann = append(ann, m)
		}
		// The announced addresses replace the direct ones; relay addresses
		// (a private node's /p2p-circuit) are kept.
		opts = append(opts, libp2p.AddrsFactory(func(in []ma.Multiaddr) []ma.Multiaddr {
			out := append([]ma.Multiaddr(nil), ann...)
			for _, a := range in {
				if IsRelayAddr(a) {
					out = append(out, a)
				}
			}
			return out
		}))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: new host: %w", err)
	}
	hostRef = h
	return h, nil
}

// newResourceManager scales libp2p's default limits to the machine and makes
// sure the system-wide connection limit sits above the connection manager's
// high water mark, so the connection manager trims before the resource manager
// starts refusing.
func newResourceManager(connHigh int, protos ...ProtocolLimit) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	addProtocolLimits(&limits, protos)
	scaled := limits.AutoScale()
	min := connHigh * 2
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:         atLeast(scaled.ToPartialLimitConfig().System.Conns, min),
			ConnsInbound:  atLeast(scaled.ToPartialLimitConfig().System.ConnsInbound, connHigh),
			ConnsOutbound: atLeast(scaled.ToPartialLimitConfig().System.ConnsOutbound, connHigh),
		},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(partial.Build(scaled)))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

func atLeast(v rcmgr.LimitVal, min int) rcmgr.LimitVal {
	if v == rcmgr.Unlimited || v == rcmgr.DefaultLimit || v == rcmgr.BlockAllLimit {
		return v
	}
	if int(v) < min {
		return rcmgr.LimitVal(min)
	}
	return v
}

func isQUIC(addr string) bool {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return false
	}
	_, err = m.ValueForProtocol(ma.P_UDP)
	return err == nil
}
