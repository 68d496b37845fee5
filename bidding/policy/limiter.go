package policy

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
)

// DefaultMaxKeys is how many peers a Buckets tracks at once.
const DefaultMaxKeys = 8192

// Buckets are token buckets keyed by peer: each peer may take Rate tokens
// per second with bursts of Burst. A peer seen for the first time starts
// with a full bucket. At most MaxKeys peers are tracked; beyond that a full
// (idle) bucket is forgotten, or any one when none is full. A Rate of 0
// allows everything. It is safe for concurrent use.
type Buckets struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	maxKeys int
	b       map[peer.ID]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewBuckets returns buckets of rate tokens per second and burst tokens
// (at least 1); rate 0 means no limit.
func NewBuckets(rate float64, burst int, maxKeys int) *Buckets {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Buckets{rate: rate, burst: float64(max(burst, 1)), maxKeys: maxKeys, b: map[peer.ID]*bucket{}}
}

// Allow takes a token for p at now and reports whether there was one.
func (l *Buckets) Allow(p peer.ID, now time.Time) bool { return l.take(p, now, true) }

// Peek reports whether p has a token at now, without taking it.
func (l *Buckets) Peek(p peer.ID, now time.Time) bool { return l.take(p, now, false) }

func (l *Buckets) take(p peer.ID, now time.Time, consume bool) bool {
	if l == nil || l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b[p]
	if b == nil {
		if len(l.b) >= l.maxKeys {
			l.evictLocked(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.b[p] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	if consume {
		b.tokens--
	}
	return true
}

func (l *Buckets) evictLocked(now time.Time) {
	var any peer.ID
	for p, b := range l.b {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.b, p)
			return
		}
		any = p
	}
	delete(l.b, any)
}

// Limiter is the per-requester job rate of a policy (JobsPerMinute).
type Limiter struct {
	perMinute int
	b         *Buckets
}

// NewLimiter returns the rate limiter of p (no limit when JobsPerMinute is 0).
func NewLimiter(p *Policy) *Limiter {
	n := p.PerRequester.JobsPerMinute
	if n <= 0 {
		return &Limiter{}
	}
	return &Limiter{perMinute: n, b: NewBuckets(float64(n)/60, n, 0)}
}

// Check refuses a requester that used up its rate at now (rate_limited).
// With take, an allowed job consumes a token (an award accepted); without
// (a bid), it does not.
func (l *Limiter) Check(p peer.ID, now time.Time, take bool) *bidding.Refusal {
	if l == nil || l.b == nil || l.b.take(p, now, take) {
		return nil
	}
	return refuse(bidding.CodeRateLimited, "requester started %d job(s) here in the last minute, the policy's limit", l.perMinute)
}
