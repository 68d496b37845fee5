// Package p2p builds the networking layer of a Shoal node: the libp2p host
// (TCP+QUIC, Noise+TLS, yamux, connection and resource managers, optional
// private network), the Kademlia DHT under Shoal's own protocol prefix,
// gossipsub with strict signing, bootstrapping, and signed capability records
// published in the DHT.
//
// It must not depend on node, bidding, content or exec: it knows nothing of
// jobs or blocks.
package p2p
