package content

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrNoDirectConn is matched by every [*NoDirectConnError].
var ErrNoDirectConn = errors.New("content: no direct connection to a provider")

// NoDirectConnError is returned when every provider of a CID that the
// fetch knew of is reachable only through a relay. Bitswap never runs over
// a relayed (limited) connection: libp2p holds its streams until hole
// punching upgrades the connection to a direct one, for a bounded wait,
// and here that never happened. It matches [ErrNoDirectConn] and
// [ErrNotFound].
type NoDirectConnError struct {
	CID       cid.Cid
	Providers []peer.ID
	// Attempts is how many hole punches with the providers failed.
	Attempts int
}

func (e *NoDirectConnError) Error() string {
	if len(e.Providers) == 1 {
		return fmt.Sprintf("no direct connection to the only provider of %s (%s): hole punch failed after %d attempts; see shoal doctor", e.CID, e.Providers[0], e.Attempts)
	}
	return fmt.Sprintf("no direct connection to any of the %d providers of %s: hole punch failed after %d attempts; see shoal doctor", len(e.Providers), e.CID, e.Attempts)
}

// Is makes errors.Is(err, ErrNoDirectConn) and errors.Is(err, ErrNotFound)
// true.
func (e *NoDirectConnError) Is(target error) bool {
	return target == ErrNoDirectConn || target == ErrNotFound
}

// providerSet collects the providers a fetch learnt of (hints and DHT).
type providerSet struct {
	mu  sync.Mutex
	ids []peer.ID
}

func (p *providerSet) add(id peer.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.ids {
		if x == id {
			return
		}
	}
	p.ids = append(p.ids, id)
}

func (p *providerSet) list() []peer.ID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]peer.ID(nil), p.ids...)
}

// relayedOnly returns a *NoDirectConnError when every provider in ids is
// connected to h through a relay alone, nil otherwise (no provider, or one
// connected directly, or one not connected at all: then the fetch failed
// for another reason).
func relayedOnly(h host.Host, c cid.Cid, ids []peer.ID, failures func(peer.ID) int) error {
	if len(ids) == 0 {
		return nil
	}
	attempts := 0
	for _, id := range ids {
		conns := h.Network().ConnsToPeer(id)
		if len(conns) == 0 {
			return nil
		}
		for _, cn := range conns {
			if _, err := cn.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil && !cn.Stat().Limited {
				return nil
			}
		}
		if failures != nil {
			attempts += failures(id)
		}
	}
	return &NoDirectConnError{CID: c, Providers: ids, Attempts: attempts}
}
