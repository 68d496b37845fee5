package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ParseBootstrap parses bootstrap multiaddrs (each must end in /p2p/PEERID).
// The error names the bad address.
func ParseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	var infos []peer.AddrInfo
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("invalid bootstrap address %q: %w", a, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return nil, fmt.Errorf("invalid bootstrap address %q (it must end in /p2p/PEERID): %w", a, err)
		}
		for _, a := range ai.Addrs {
			if err := checkP2PParts(a); err != nil {
				return nil, fmt.Errorf("invalid bootstrap address %q: %w", a, err)
			}
		}
		infos = append(infos, *ai)
	}
	return mergeAddrInfos(infos), nil
}

// checkP2PParts refuses a transport address that still names a peer: the
// only /p2p part allowed before the final one is a relay's, followed by
// /p2p-circuit.
func checkP2PParts(a ma.Multiaddr) error {
	for i, c := range a {
		if c.Code() != ma.P_P2P {
			continue
		}
		if i+1 >= len(a) || a[i+1].Code() != ma.P_CIRCUIT {
			return fmt.Errorf("it names more than one peer (/p2p/%s is neither the last part nor a relay before /p2p-circuit)", c.Value())
		}
	}
	return nil
}

// Connect dials every bootstrap peer in parallel with a per-peer timeout and
// returns how many connections succeeded; the error joins the failures.
func Connect(ctx context.Context, h host.Host, peers []peer.AddrInfo, timeout time.Duration) (int, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   int
		errs []error
	)
	for _, p := range peers {
		if p.ID == h.ID() {
			continue
		}
		wg.Add(1)
		go func(p peer.AddrInfo) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			err := h.Connect(cctx, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("bootstrap %s: %w", p.ID, err))
				return
			}
			ok++
		}(p)
	}
	wg.Wait()
	return ok, errors.Join(errs...)
}

// mergeAddrInfos joins the addresses of entries with the same peer ID,
// keeping the order of first appearance.
func mergeAddrInfos(in []peer.AddrInfo) []peer.AddrInfo {
	idx := map[peer.ID]int{}
	var out []peer.AddrInfo
	for _, ai := range in {
		if i, ok := idx[ai.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
			continue
		}
		idx[ai.ID] = len(out)
		out = append(out, ai)
	}
	return out
}
