package api

import (
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/p2p"
)

// Prefix of every route.
const Prefix = "/api/v0"

// IDResponse describes the node.
type IDResponse struct {
	ID      string   `json:"id"`
	Addrs   []string `json:"addrs"`
	Version string   `json:"version"`
	Engines []string `json:"engines"`
	Repo    string   `json:"repo,omitempty"`
	Peers   int      `json:"peers"`
	Private bool     `json:"private_network"`
	// TopicPeers is how many peers listen on the job announcement topic.
	TopicPeers int `json:"topic_peers"`
	// Executions is how many runs this node's executor handed to an
	// engine since the daemon started (a reused receipt costs none).
	Executions int64 `json:"executions"`
}

// Peer is one connected peer.
type Peer struct {
	ID        string `json:"id"`
	Addr      string `json:"addr"`
	Direction string `json:"direction"`
	// Connection is "direct", or "relayed" while the peer is reached
	// through a circuit relay only (no bitswap then).
	Connection string  `json:"connection"`
	LatencyMS  float64 `json:"latency_ms,omitempty"`
}

// NodesResponse lists nodes found in the DHT.
type NodesResponse struct {
	Nodes []*p2p.Capabilities `json:"nodes"`
	// Reputation is this node's record of the nodes it used as executors,
	// by peer ID (local, never gossiped).
	Reputation map[string]market.PeerReputation `json:"reputation,omitempty"`
}

// VersionResponse is the daemon's version.
type VersionResponse struct {
	Version string `json:"version"`
	Go      string `json:"go"`
}
