package content

import (
	"context"
	"errors"
	"fmt"
	"sync"

	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/go-cid"
)

// PinInfo describes one pin.
type PinInfo struct {
	CID cid.Cid
	// Recursive pins keep the whole DAG; direct pins keep one block.
	Recursive bool
}

// Pin pins c. A recursive pin first makes the whole DAG local (fetching
// what is missing like Fetch, with the same bounded provider search) and
// keeps all of it from GC (it replaces a direct pin of c); a direct pin
// keeps only the block c, and is refused with ErrPinnedRecursively when c
// is pinned recursively. The pin is recorded in the datastore before Pin
// returns, and the root is provided to the DHT in the background.
func (s *Store) Pin(ctx context.Context, c cid.Cid, recursive bool) error {
	if err := s.check(); err != nil {
		return err
	}
	unlock := s.bs.PinLock(ctx)
	defer unlock.Unlock(ctx)

	if recursive {
		if err := s.fetchLocked(ctx, c, FetchOptions{}); err != nil {
			return fmt.Errorf("content: pin %s: %w", c, err)
		}
	} else {
		// The pinner refuses this too, with an error of its own that
		// callers could not tell from a failure of the store.
		_, rec, err := s.pinner.IsPinnedWithType(ctx, c, pin.Recursive)
		if err != nil {
			return fmt.Errorf("content: pin %s: %w", c, err)
		}
		if rec {
			return fmt.Errorf("content: pin %s directly: %s is %w; unpin it first", c, c, ErrPinnedRecursively)
		}
		if _, err := s.getBlock(ctx, c, nil, nil); err != nil {
			return fmt.Errorf("content: pin %s: %w", c, err)
		}
	}
	if err := s.pinLocked(ctx, c, recursive); err != nil {
		return fmt.Errorf("content: %w", err)
	}
	return nil
}

// pinLocked records the pin of a DAG that is already local and provides
// it. The caller holds the pin lock.
func (s *Store) pinLocked(ctx context.Context, c cid.Cid, recursive bool) error {
	return s.pinAllLocked(ctx, recursive, c)
}

// pinAllLocked pins local DAGs with one flush of the pin set, then provides
// them. The caller holds the pin lock.
func (s *Store) pinAllLocked(ctx context.Context, recursive bool, cs ...cid.Cid) error {
	mode := pin.Direct
	if recursive {
		mode = pin.Recursive
	}
	fresh := 0
	seen := make(map[cid.Cid]bool, len(cs))
	for _, c := range cs {
		// Re-pinning a root this Store pinned recursively already would
		// walk its DAG and rewrite its pin for nothing: jobs pin the same
		// empty stderr and outputs directory over and over (and an empty
		// stdout and stderr are one root).
		if seen[c] || recursive && s.pinned.has(c) {
			continue
		}
		seen[c] = true
		if err := s.pinner.PinWithMode(ctx, c, mode, ""); err != nil {
			return fmt.Errorf("pin %s: %w", c, err)
		}
		fresh++
	}
	if fresh > 0 {
		if err := s.pinner.Flush(ctx); err != nil {
			return fmt.Errorf("pin %s: flush pins: %w", cs[0], err)
		}
	}
	if recursive {
		for _, c := range cs {
			s.pinned.add(c)
		}
	}
	for _, c := range cs {
		s.provideAsync(c)
	}
	return nil
}

// Unpin removes the pin of c, recursive or direct. It returns ErrNotPinned
// when c has no pin of its own. The blocks stay until the next GC.
// Config.OnUnpin is called once the pin is gone.
func (s *Store) Unpin(ctx context.Context, c cid.Cid) error {
	if err := s.check(); err != nil {
		return err
	}
	s.pinned.remove(c)
	if err := s.pinner.Unpin(ctx, c, true); err != nil {
		if errors.Is(err, pin.ErrNotPinned) {
			return fmt.Errorf("content: unpin %s: %w", c, ErrNotPinned)
		}
		return fmt.Errorf("content: unpin %s: %w", c, err)
	}
	if f := s.cfg.OnUnpin; f != nil {
		f(c) // before the flush: a failed flush may still have dropped the pin
	}
	if err := s.pinner.Flush(ctx); err != nil {
		return fmt.Errorf("content: unpin %s: flush pins: %w", c, err)
	}
	return nil
}

// Pins lists the recursive pins, then the direct pins.
func (s *Store) Pins(ctx context.Context) ([]PinInfo, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx) // stops the pinner's streams on early return
	defer cancel()
	var out []PinInfo
	for _, rec := range []bool{true, false} {
		ch := s.pinner.DirectKeys(ctx, false)
		if rec {
			ch = s.pinner.RecursiveKeys(ctx, false)
		}
		for p := range ch {
			if p.Err != nil {
				return nil, fmt.Errorf("content: list pins: %w", p.Err)
			}
			out = append(out, PinInfo{CID: p.Pin.Key, Recursive: rec})
		}
	}
	return out, nil
}

// IsPinned reports whether c has a pin of its own (not counting being part
// of another pinned DAG).
func (s *Store) IsPinned(ctx context.Context, c cid.Cid) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	_, ok, err := s.pinner.IsPinnedWithType(ctx, c, pin.Recursive)
	if err != nil || ok {
		return ok, err
	}
	_, ok, err = s.pinner.IsPinnedWithType(ctx, c, pin.Direct)
	return ok, err
}

// pinnedSet remembers roots this Store pinned recursively (at most
// maxPinnedSet; forgotten ones are simply pinned again). Pins change only
// through the Store, which removes a root here before unpinning it.
type pinnedSet struct {
	mu sync.Mutex
	m  map[cid.Cid]struct{}
}

const maxPinnedSet = 4096

func (p *pinnedSet) has(c cid.Cid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[c]
	return ok
}

func (p *pinnedSet) add(c cid.Cid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= maxPinnedSet {
		p.m = map[cid.Cid]struct{}{}
	}
	p.m[c] = struct{}{}
}

func (p *pinnedSet) remove(c cid.Cid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, c)
}
