package content

import (
	"context"
	"fmt"
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

// provideAsync provides c in the background; a failure is logged only, so
// that a node without DHT peers can still add and pin.
func (s *Store) provideAsync(c cid.Cid) {
	if s.cfg.Router == nil {
		return
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(s.ctx, DefaultProvideTimeout)
		defer cancel()
		start := time.Now()
		if err := s.cfg.Router.Provide(ctx, c, true); err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("provide failed; will retry at the next reprovide", "cid", c, "err", err)
			}
			return
		}
		s.log.Debug("provided", "cid", c, "took", time.Since(start))
	})
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
