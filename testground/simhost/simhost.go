// Package simhost carries, from the sim runner to a plan instance, the
// libp2p host and identity the runner created for it on the in-memory
// mock network. Under the other runners there is none and the instance
// builds a real host.
package simhost

import (
	"context"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
)

// Peer is an instance's host on the mock network.
type Peer struct {
	Host host.Host
	Key  crypto.PrivKey
}

type key struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, key{}, p)
}

// From returns the Peer ctx carries, or nil.
func From(ctx context.Context) *Peer {
	p, _ := ctx.Value(key{}).(*Peer)
	return p
}
