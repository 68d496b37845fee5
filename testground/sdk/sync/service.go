package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	gosync "sync"
)

// DefaultMaxBytes bounds the payload bytes a Service keeps over all topics.
const DefaultMaxBytes = 512 << 20

// Errors of the Service.
var (
	ErrClosed = errors.New("sync: service closed")
	ErrFull   = errors.New("sync: service holds too much data")
)

// Service is the in-memory sync service. Waiting is event-driven: every
// change of a key closes that key's notification channel. It is safe for
// concurrent use.
type Service struct {
	mu       gosync.Mutex
	states   map[string]*counter
	topics   map[string]*topic
	bytes    int64
	maxBytes int64
	closed   chan struct{}
	once     gosync.Once
	onSignal func(state string, n int64)
}

// OnSignal sets a function called (outside the service's lock) after every
// SignalEntry with the state and its new count; runners log progress
// with it. Set it before the service is used.
func (s *Service) OnSignal(f func(state string, n int64)) { s.onSignal = f }

type counter struct {
	n       int64
	changed chan struct{}
}

type topic struct {
	items   []json.RawMessage
	changed chan struct{}
}

// NewService returns an empty service holding at most DefaultMaxBytes of
// payloads.
func NewService() *Service {
	return &Service{states: map[string]*counter{}, topics: map[string]*topic{}, maxBytes: DefaultMaxBytes, closed: make(chan struct{})}
}

// Close ends every pending barrier and subscription with ErrClosed.
func (s *Service) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *Service) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *Service) counter(state string) *counter {
	c := s.states[state]
	if c == nil {
		c = &counter{changed: make(chan struct{})}
		s.states[state] = c
	}
	return c
}

func (s *Service) topic(name string) *topic {
	t := s.topics[name]
	if t == nil {
		t = &topic{changed: make(chan struct{})}
		s.topics[name] = t
	}
	return t
}

// SignalEntry increments state's counter and returns its new value.
func (s *Service) SignalEntry(ctx context.Context, state string) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	s.mu.Lock()
	c := s.counter(state)
	c.n++
	n := c.n
	close(c.changed)
	c.changed = make(chan struct{})
	s.mu.Unlock()
	if s.onSignal != nil {
		s.onSignal(state, n)
	}
	return n, nil
}

// Count returns state's counter.
func (s *Service) Count(state string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.states[state]; c != nil {
		return c.n
	}
	return 0
}

// Barrier waits until state's counter reaches target (at once for target
// ≤ 0), ctx ends or the service closes.
func (s *Service) Barrier(ctx context.Context, state string, target int64) error {
	for {
		s.mu.Lock()
		c := s.counter(state)
		n, ch := c.n, c.changed
		s.mu.Unlock()
		if n >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		case <-ch:
		}
	}
}

// Publish appends payload (one JSON value, stored compacted) to the topic
// and returns its 1-based sequence number.
func (s *Service) Publish(ctx context.Context, name string, payload json.RawMessage) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, payload); err != nil {
		return 0, fmt.Errorf("sync: payload is not JSON: %w", err)
	}
	item := json.RawMessage(buf.Bytes())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+int64(len(item)) > s.maxBytes {
		return 0, fmt.Errorf("%w: %d bytes already", ErrFull, s.bytes)
	}
	s.bytes += int64(len(item))
	t := s.topic(name)
	t.items = append(t.items, item)
	close(t.changed)
	t.changed = make(chan struct{})
	return int64(len(t.items)), nil
}

// Item returns the topic's item at 0-based position i, waiting until it
// exists, ctx ends or the service closes.
func (s *Service) Item(ctx context.Context, name string, i int) (json.RawMessage, error) {
	for {
		s.mu.Lock()
		t := s.topic(name)
		var item json.RawMessage
		if i < len(t.items) {
			item = t.items[i]
		}
		ch := t.changed
		s.mu.Unlock()
		if item != nil {
			return item, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
			return nil, ErrClosed
		case <-ch:
		}
	}
}

// Len returns how many items the topic holds.
func (s *Service) Len(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.topics[name]; t != nil {
		return len(t.items)
	}
	return 0
}

// Subscribe streams the topic from its first item into a Subscription
// until ctx ends or the service closes.
func (s *Service) Subscribe(ctx context.Context, name string) *Subscription {
	sub := newSubscription()
	go func() {
		for i := 0; ; i++ {
			item, err := s.Item(ctx, name, i)
			if err != nil {
				sub.finish(err)
				return
			}
			if !sub.push(ctx, item) {
				sub.finish(ctx.Err())
				return
			}
		}
	}()
	return sub
}
