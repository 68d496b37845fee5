package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	gosync "sync"
)

// Client is what a plan uses to coordinate its instances. Topic and state
// names are scoped to the run by the client.
type Client interface {
	// Publish appends payload (marshalled to JSON) to topic and returns its
	// 1-based sequence number.
	Publish(ctx context.Context, topic string, payload any) (int64, error)
	// Subscribe streams every item of topic, oldest first, until ctx ends.
	Subscribe(ctx context.Context, topic string) (*Subscription, error)
	// SignalEntry increments state's counter and returns its new value.
	SignalEntry(ctx context.Context, state string) (int64, error)
	// Barrier waits until state's counter reaches target.
	Barrier(ctx context.Context, state string, target int) error
	// Close releases the client; pending calls fail.
	Close() error
}

// Scope names a run's key space.
type Scope struct {
	Run, Plan, Case string
}

// StateKey is the service key of a state, as Testground's SDK forms it.
func (s Scope) StateKey(state string) string {
	return fmt.Sprintf("run:%s:plan:%s:case:%s:states:%s", s.Run, s.Plan, s.Case, state)
}

// TopicKey is the service key of a topic, as Testground's SDK forms it.
func (s Scope) TopicKey(topic string) string {
	return fmt.Sprintf("run:%s:plan:%s:case:%s:topics:%s", s.Run, s.Plan, s.Case, topic)
}

// SignalAndWait signals entry into state and waits until target instances
// did; it returns this instance's sequence number.
func SignalAndWait(ctx context.Context, c Client, state string, target int) (int64, error) {
	seq, err := c.SignalEntry(ctx, state)
	if err != nil {
		return 0, err
	}
	return seq, c.Barrier(ctx, state, target)
}

// Subscription delivers a topic's items in order on C. C is closed when the
// subscription ends; Err then says why (nil only for a clean close).
type Subscription struct {
	C <-chan json.RawMessage

	c    chan json.RawMessage
	mu   gosync.Mutex
	err  error
	done chan struct{}
	once gosync.Once
}

func newSubscription() *Subscription {
	c := make(chan json.RawMessage, 64)
	return &Subscription{C: c, c: c, done: make(chan struct{})}
}

func (s *Subscription) push(ctx context.Context, item json.RawMessage) bool {
	select {
	case s.c <- item:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

func (s *Subscription) finish(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
		close(s.c)
	})
}

// Err is why the subscription ended (after C is closed).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Next decodes the next item into v. At the end of the subscription it
// returns its error, or ErrSubscriptionEnded.
func (s *Subscription) Next(ctx context.Context, v any) error {
	select {
	case item, ok := <-s.C:
		if !ok {
			if err := s.Err(); err != nil {
				return err
			}
			return ErrSubscriptionEnded
		}
		if err := json.Unmarshal(item, v); err != nil {
			return fmt.Errorf("sync: item %s: %w", truncate(item), err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrSubscriptionEnded is returned by Next after a clean end.
var ErrSubscriptionEnded = errors.New("sync: subscription ended")

// Collect subscribes to topic and returns its first n items decoded as T.
func Collect[T any](ctx context.Context, c Client, topic string, n int) ([]T, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := c.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, n)
	for len(out) < n {
		var v T
		if err := sub.Next(ctx, &v); err != nil {
			return out, fmt.Errorf("collect %s: %d of %d items: %w", topic, len(out), n, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// InmemClient calls a Service in the same process.
type InmemClient struct {
	svc   *Service
	scope Scope
}

var _ Client = (*InmemClient)(nil)

// NewInmemClient returns a client of svc scoped to a run.
func NewInmemClient(svc *Service, scope Scope) *InmemClient {
	return &InmemClient{svc: svc, scope: scope}
}

// Publish implements Client.
func (c *InmemClient) Publish(ctx context.Context, topic string, payload any) (int64, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("sync: publish %s: %w", topic, err)
	}
	return c.svc.Publish(ctx, c.scope.TopicKey(topic), b)
}

// Subscribe implements Client.
func (c *InmemClient) Subscribe(ctx context.Context, topic string) (*Subscription, error) {
	return c.svc.Subscribe(ctx, c.scope.TopicKey(topic)), nil
}

// SignalEntry implements Client.
func (c *InmemClient) SignalEntry(ctx context.Context, state string) (int64, error) {
	return c.svc.SignalEntry(ctx, c.scope.StateKey(state))
}

// Barrier implements Client.
func (c *InmemClient) Barrier(ctx context.Context, state string, target int) error {
	return c.svc.Barrier(ctx, c.scope.StateKey(state), int64(target))
}

// Close implements Client; the service stays open.
func (c *InmemClient) Close() error { return nil }
