// Package market runs Shoal's job protocol over libp2p, in three components
// that each own their state and lock: the transport (transport.go: the
// host's streams and their framing, the gossipsub announcement topic, pipes
// to this node's own handlers), the requester (requester.go, supersede.go:
// announce on gossipsub, ask data holders directly, collect bids, award,
// watch heartbeats, fail over, store receipts) and the executor (executor.go,
// bidder.go, gate.go: admission, bids, accepting awards, fetching inputs,
// running, publishing outputs, signing receipts). Market wires them. The
// decisions themselves are the pure functions of package bidding; this
// package moves messages and keeps state. Only the transport's files import
// libp2p's host, network and pubsub packages.
//
// It depends on small interfaces (Content, Runner) and a datastore, never on
// node or content, so it runs the same in a daemon and in a simulation.
package market
