// Package node assembles a Shoal node from p2p, content, exec and bidding:
// its configuration, its repo directory (identity, config, datastore, lock),
// its lifecycle and its HTTP API.
//
// Nothing below node imports it; cmd/shoal and testground use it.
package node
