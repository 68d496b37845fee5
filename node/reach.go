package node

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/p2p"
)

// natState follows what libp2p learns about the node's reachability:
// AutoNAT v1's verdict, AutoNAT v2's per-address results, and the
// hole-punch attempts and relay-service counters of the host.
type natState struct {
	holePunches *p2p.HolePunchLog
	relayed     *p2p.RelayStats
	// relayService: offer the relay once reachable (relay.service).
	relayService bool
	host         host.Host
	relay        io.Closer

	mu          sync.Mutex
	reach       network.Reachability
	reachAt     time.Time
	reachable   []ma.Multiaddr
	unreachable []ma.Multiaddr
}

// natConfig builds the host's NAT options from the config and creates the
// node's natState.
func (n *Node) natConfig(cfg *Config) (p2p.NATConfig, error) {
	static, err := p2p.ParseBootstrap(cfg.Relay.Static)
	if err != nil {
		return p2p.NATConfig{}, fmt.Errorf("config: relay.static: %w", err)
	}
	n.nat = &natState{holePunches: p2p.NewHolePunchLog(), relayed: &p2p.RelayStats{}, relayService: cfg.Relay.Service}
	return p2p.NATConfig{
		PortMapping:  cfg.Swarm.PortMapping,
		StaticRelays: static,
		Reachability: cfg.Swarm.Reachability,
		HolePunches:  n.nat.holePunches,
	}, nil
}

// watch follows h's reachability events until ctx ends.
func (s *natState) watch(ctx context.Context, h host.Host, wg *sync.WaitGroup) error {
	sub, err := h.EventBus().Subscribe([]any{new(event.EvtLocalReachabilityChanged), new(event.EvtHostReachableAddrsChanged)})
	if err != nil {
		return fmt.Errorf("subscribe to reachability events: %w", err)
	}
	s.host = h
	wg.Go(func() {
		defer sub.Close()
		defer s.stopRelay()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				s.record(e)
			}
		}
	})
	return nil
}

func (s *natState) record(e any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := e.(type) {
	case event.EvtLocalReachabilityChanged:
		s.reach, s.reachAt = e.Reachability, time.Now()
		log.Info("reachability changed", "reachability", e.Reachability.String())
	case event.EvtHostReachableAddrsChanged:
		s.reachable, s.unreachable = e.Reachable, e.Unreachable
		log.Info("AutoNAT v2 address reachability", "reachable", e.Reachable, "unreachable", e.Unreachable)
	}
	if s.relayService && s.relay == nil && (s.reach == network.ReachabilityPublic || len(s.reachable) > 0) {
		s.startRelayLocked()
	}
}

func (s *natState) startRelayLocked() {
	r, err := p2p.StartRelay(s.host, s.relayed)
	if err != nil {
		log.Warn("relay service not started", "err", err)
		return
	}
	s.relay = r
	log.Info("relay service started: this node is publicly reachable", "limits", "libp2p defaults: 128 KiB and 2 min per circuit")
}

func (s *natState) stopRelay() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.relay != nil {
		s.relay.Close()
		s.relay = nil
	}
}

// Reachability is what AutoNAT concluded: "public", "private" or
// "unknown", with the addresses AutoNAT v2 confirmed and refuted.
func (n *Node) Reachability() (reach string, reachable, unreachable []string) {
	s := n.nat
	s.mu.Lock()
	defer s.mu.Unlock()
	reach = "unknown"
	switch {
	case s.reach == network.ReachabilityPublic || len(s.reachable) > 0:
		reach = "public"
	case s.reach == network.ReachabilityPrivate:
		reach = "private"
	}
	for _, a := range s.reachable {
		reachable = append(reachable, a.String())
	}
	for _, a := range s.unreachable {
		unreachable = append(unreachable, a.String())
	}
	return reach, reachable, unreachable
}

// HolePunches lists the node's recent hole-punch attempts, oldest first.
func (n *Node) HolePunches() []p2p.HolePunch { return n.nat.holePunches.Recent() }

// HolePunchesChanged is closed when the next hole-punch attempt is
// recorded: a caller waits on it, then reads HolePunches.
func (n *Node) HolePunchesChanged() <-chan struct{} { return n.nat.holePunches.Changed() }

// RelayStats is what this node's relay service carried.
func (n *Node) RelayStats() p2p.RelayStatsSnapshot { return n.nat.relayed.Snapshot() }
