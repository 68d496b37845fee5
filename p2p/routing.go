package p2p

import (
	"context"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// DHTProtocolPrefix keeps Shoal's DHT apart from the public IPFS DHT.
const DHTProtocolPrefix = "/shoal"

// MaxPubsubMessage bounds any gossipsub message (announcements are ≤ 64 KiB
// plus their envelope).
const MaxPubsubMessage = 128 << 10

// NewDHT starts a Kademlia DHT under Shoal's protocol prefix, in server
// mode unless AutoNAT finds the node private (dht.ModeAutoServer): a node
// behind NAT is reachable only through a relay, where DHT streams would
// wait for a direct connection, so it queries the DHT as a client and
// serves nothing. It stores its records in store and validates capability
// records. extra
// options are applied after these (simulations pass
// dht.DisableAutoRefresh() and refresh explicitly, staggered).
func NewDHT(h host.Host, store ds.Batching, bootstrap []peer.AddrInfo, extra ...dht.Option) (*dht.IpfsDHT, error) {
	opts := []dht.Option{
		dht.Mode(dht.ModeAutoServer),
		dht.ProtocolPrefix(DHTProtocolPrefix),
		dht.NamespacedValidator(CapNamespace, CapValidator{}),
		dht.BootstrapPeers(bootstrap...),
	}
	if store != nil {
		opts = append(opts, dht.Datastore(store))
	}
	opts = append(opts, extra...)
	d, err := dht.New(h, opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: new dht: %w", err)
	}
	return d, nil
}

// NewPubSub starts gossipsub with strict message signing: every message is
// signed by its author and unsigned or forged messages are dropped.
func NewPubSub(ctx context.Context, h host.Host, opts ...pubsub.Option) (*pubsub.PubSub, error) {
	base := []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMaxMessageSize(MaxPubsubMessage),
		pubsub.WithPeerExchange(true),
	}
	ps, err := pubsub.NewGossipSub(ctx, h, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("p2p: new gossipsub: %w", err)
	}
	return ps, nil
}
