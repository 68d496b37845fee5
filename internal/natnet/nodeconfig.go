package natnet

import (
	"time"

	"github.com/shoalnet/shoal/node"
)

// SwarmPort is the first swarm port of the nodes in a topology (TCP and
// QUIC): every namespace has its own ports, so a namespace with one node
// uses SwarmPort, one with several SwarmPort+k.
const SwarmPort = 4280

// FindProvidersTimeout bounds a node's wait for content in a topology, so
// that a fetch that cannot succeed fails within a test's patience.
const FindProvidersTimeout = 20 * time.Second

// Capability record refresh and TTL in a topology: a NAT'd node's record
// must soon carry the /p2p-circuit addresses it gets once it reserved a
// relay slot.
const (
	CapRefresh = 5 * time.Second
	CapTTL     = time.Minute
)

// ConfigureNode is the part of a node's configuration that every node in
// a topology shares: lab-sized content and record timers. It is test
// topology configuration, not a production default.
func ConfigureNode(c *node.Config) {
	c.Content.FindProvidersTimeout = node.Duration(FindProvidersTimeout)
	c.Capabilities.Refresh = node.Duration(CapRefresh)
	c.Capabilities.TTL = node.Duration(CapTTL)
}

// ConfigurePublic configures a node of the public segment: a bootstrap
// and relay (relay.service on, as in the public profile).
func ConfigurePublic(c *node.Config) {
	ConfigureNode(c)
	c.Relay.Service = true
}

// ConfigureSite configures a node behind a site's NAT: it advertises its
// LAN address and its /p2p-circuit addresses, not the router's address
// identify observed. That is what AutoNAT v2 leaves once two dial-backs
// failed, and a topology with one public node has one AutoNAT server.
// Hole punching still uses the observed address. Call it after setting
// c.Swarm.Listen to addresses with fixed ports.
func ConfigureSite(c *node.Config) {
	ConfigureNode(c)
	c.Swarm.Announce = append([]string(nil), c.Swarm.Listen...)
}
