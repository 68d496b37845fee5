// Package market runs Shoal's job protocol over libp2p: the requester side
// (announce on gossipsub, ask data holders directly, collect bids, award,
// watch heartbeats, fail over, store receipts) and the bidder/executor side
// (admission, bids, accepting awards, fetching inputs, running, publishing
// outputs, signing receipts). The decisions themselves are the pure functions
// of package bidding; this package moves messages and keeps state.
//
// It depends on small interfaces (Content, Runner) and a datastore, never on
// node or content, so it runs the same in a daemon and in a simulation.
package market
