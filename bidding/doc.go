// Package bidding is Shoal's job protocol without the network: the wire
// messages (announce, bid, decline, award, accept, status, receipt, cancel,
// query), their canonical dag-cbor encoding, signatures and size limits, the
// stream framing, and the pure decision logic of both sides: bidder
// admission and capacity reservations, requester ranking, the bid window,
// failover selection, award de-duplication, heartbeat liveness and the
// re-announce backoff.
//
// Everything here is a pure function or a small type over an interface (a
// NodeView of the bidder, a clock passed as a value), so the same logic runs
// in unit tests, in the daemon and in a 500-node in-process simulation. The
// node package wires it to libp2p streams and gossipsub as described in
// docs/protocol.md, which is the reference for every message, limit and
// timeout defined here.
//
// bidding must not import node, p2p, content or exec; it depends only on
// bidding/jobspec, go-libp2p's core types, go-cid, multiaddr and
// go-ipld-prime.
package bidding
