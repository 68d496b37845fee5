package content

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// fakeRouter records Provide calls and finds no providers.
type fakeRouter struct {
	mu       sync.Mutex
	provided map[cid.Cid]int
	err      error
}

func (r *fakeRouter) Provide(_ context.Context, c cid.Cid, _ bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.provided == nil {
		r.provided = map[cid.Cid]int{}
	}
	r.provided[c]++
	return r.err
}

func (r *fakeRouter) FindProvidersAsync(ctx context.Context, _ cid.Cid, _ int) <-chan peer.AddrInfo {
	ch := make(chan peer.AddrInfo)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

func (r *fakeRouter) count(c cid.Cid) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.provided[c]
}

func newFakeRouted(t *testing.T, r *fakeRouter, reprovide time.Duration) *Store {
	t.Helper()
	n := newTestNode(t, testOpts{noRouter: true})
	_ = n.store.Close()
	s, err := New(context.Background(), Config{
		Host: n.h, Datastore: n.ds, Router: r,
		FindProvidersTimeout: time.Second, ReprovideInterval: reprovide,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.store = s
	return s
}

// TestProvideOnPinAndReprovide: a pinned root is provided at once and again
// every ReprovideInterval; unpinned content is not provided.
func TestProvideOnPinAndReprovide(t *testing.T) {
	r := &fakeRouter{}
	s := newFakeRouted(t, r, 300*time.Millisecond)
	pinned := addBytes(t, s, []byte("pinned"), AddOptions{Pin: true})
	unpinned := addBytes(t, s, []byte("unpinned"), AddOptions{})
	waitFor(t, 10*time.Second, "provide on pin and two reprovides", func() bool {
		return r.count(pinned) >= 3
	})
	if n := r.count(unpinned); n != 0 {
		t.Errorf("unpinned content provided %d times", n)
	}
}

// TestProvideFailureDoesNotBreakAdd: a DHT that cannot provide (an empty
// routing table) makes Add log, not fail; Provide reports the error.
func TestProvideFailureDoesNotBreakAdd(t *testing.T) {
	r := &fakeRouter{err: errors.New("failed to find any peer in table")}
	s := newFakeRouted(t, r, -1)
	c := addBytes(t, s, []byte("lonely"), AddOptions{Pin: true})
	waitFor(t, 10*time.Second, "provide attempt", func() bool { return r.count(c) >= 1 })
	if err := s.Provide(testCtx(t, time.Minute), c); err == nil {
		t.Error("Provide hid the router's error")
	}
	// Still no providers to find: ErrNoProviders after the 1s wait.
	missing := cidOf(t, []byte("missing"))
	if err := s.Fetch(testCtx(t, time.Minute), missing, FetchOptions{}); !errors.Is(err, ErrNoProviders) {
		t.Errorf("fetch: %v", err)
	}
}
