package content

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// Provide announces synchronously in the DHT that this node has c. It
// returns ErrNoRouter when the Store has no content router, and the DHT's
// error (for example an empty routing table) otherwise.
func (s *Store) Provide(ctx context.Context, c cid.Cid) error {
	if err := s.check(); err != nil {
		return err
	}
	if s.cfg.Router == nil {
		return fmt.Errorf("content: provide %s: %w", c, ErrNoRouter)
	}
	if err := s.cfg.Router.Provide(ctx, c, true); err != nil {
		return fmt.Errorf("content: provide %s: %w", c, err)
	}
	return nil
}

// Providing on pin is bounded and de-duplicated: a root that is being
// provided, or was provided less than recentProvide ago (its record lives
// 48 h in the DHT; the reprovide loop renews it), is not provided again,
// and at most maxProvides run at once. A node that runs many jobs pins the
// same small roots over and over (an empty stderr, an empty outputs
// directory); each provide is a DHT walk and a dozen streams.
const (
	recentProvide     = time.Hour
	maxRecentProvides = 8192
	maxProvides       = 8
)

type provideTracker struct {
	mu       sync.Mutex
	inflight map[cid.Cid]bool // queued or being provided
	recent   map[cid.Cid]time.Time
	queue    []cid.Cid
	workers  int
}

// claim reports whether c should be provided now, and marks it in flight.
func (t *provideTracker) claim(c cid.Cid, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inflight == nil {
		t.inflight, t.recent = map[cid.Cid]bool{}, map[cid.Cid]time.Time{}
	}
	if t.inflight[c] {
		return false
	}
	if at, ok := t.recent[c]; ok && now.Sub(at) < recentProvide {
		return false
	}
	t.inflight[c] = true
	return true
}

// done ends the provide of c; ok records it as recent.
func (t *provideTracker) done(c cid.Cid, ok bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.inflight, c)
	if !ok {
		return
	}
	if len(t.recent) >= maxRecentProvides {
		for k, at := range t.recent {
			if now.Sub(at) >= recentProvide {
				delete(t.recent, k)
			}
		}
		if len(t.recent) >= maxRecentProvides {
			clear(t.recent) // all recent: forget them rather than grow
		}
	}
	t.recent[c] = now
}

// enqueue queues a claimed c and reports whether a worker should start.
func (t *provideTracker) enqueue(c cid.Cid) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queue = append(t.queue, c)
	if t.workers < maxProvides {
		t.workers++
		return true
	}
	return false
}

// next dequeues the next root; when none is left the calling worker ends.
func (t *provideTracker) next() (cid.Cid, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) == 0 {
		t.workers--
		t.queue = nil // let a burst's backing array go
		return cid.Undef, false
	}
	c := t.queue[0]
	t.queue = t.queue[1:]
	return c, true
}

// provideAsync queues c for providing in the background (unless it was
// provided recently); a failure is logged only, so that a node without DHT
// peers can still add and pin.
func (s *Store) provideAsync(c cid.Cid) {
	if s.cfg.Router == nil || !s.provides.claim(c, time.Now()) {
		return
	}
	if s.provides.enqueue(c) {
		s.spawn(s.provideWorker)
	}
}

func (s *Store) provideWorker() {
	for {
		c, ok := s.provides.next()
		if !ok {
			return
		}
		if s.ctx.Err() != nil {
			s.provides.done(c, false, time.Now())
			continue // drain the queue
		}
		ctx, cancel := context.WithTimeout(s.ctx, DefaultProvideTimeout)
		start := time.Now()
		err := s.cfg.Router.Provide(ctx, c, true)
		cancel()
		s.provides.done(c, err == nil, time.Now())
		switch {
		case err == nil:
			s.log.Debug("provided", "cid", c, "took", time.Since(start))
		case s.ctx.Err() == nil:
			s.log.Warn("provide failed; will retry at the next reprovide", "cid", c, "err", err)
		}
	}
}

// reprovideLoop provides every pinned root once shortly after start and then
// every ReprovideInterval, until Close.
func (s *Store) reprovideLoop() {
	wait := min(firstReprovideDelay, s.cfg.ReprovideInterval)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.reprovide(s.ctx)
		t.Reset(s.cfg.ReprovideInterval)
	}
}

// reprovide provides every pinned root, one after the other.
func (s *Store) reprovide(ctx context.Context) {
	pins, err := s.Pins(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reprovide: list pins", "err", err)
		}
		return
	}
	var failed int
	start := time.Now()
	for _, p := range pins {
		pctx, cancel := context.WithTimeout(ctx, DefaultProvideTimeout)
		err := s.cfg.Router.Provide(pctx, p.CID, true)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failed++
			s.log.Debug("reprovide failed", "cid", p.CID, "err", err)
		}
	}
	s.log.Info("reprovided pinned roots", "roots", len(pins), "failed", failed, "took", time.Since(start))
}

// ProvidesQueued is how many pinned roots wait for a DHT provide or are
// being provided.
func (s *Store) ProvidesQueued() int {
	s.provides.mu.Lock()
	defer s.provides.mu.Unlock()
	return len(s.provides.inflight)
}
