package bidding

import (
	"container/heap"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultDedupSize is how many live award IDs a Dedup remembers by default.
const DefaultDedupSize = 1 << 16

// Dedup is an executor's memory of the awards it has seen, so that an award
// is acted on at most once. Entries live until the award's Expires plus
// MaxClockSkew; after that the award is refused as expired anyway, which
// bounds the set. When the set is full of live entries, new awards are
// refused (CodeNoCapacity) rather than forgetting one that could then be
// replayed.
//
// The executor's job store remains the source of truth: after a restart,
// seed a Dedup with Remember for the awards it holds. It is safe for
// concurrent use.
type Dedup struct {
	mu    sync.Mutex
	max   int
	seen  map[AwardID]time.Time
	order expiryHeap
}

// NewDedup returns an empty set holding at most max live IDs (max <= 0
// means DefaultDedupSize).
func NewDedup(max int) *Dedup {
	if max <= 0 {
		max = DefaultDedupSize
	}
	return &Dedup{max: max, seen: map[AwardID]time.Time{}}
}

// Check decides whether the executor self may act on award a at now, and
// if so records it. It refuses, with a *Refusal wrapping the matching
// sentinel, an award addressed to another executor (ErrWrongExecutor), an
// expired one (ErrAwardExpired), one issued more than MaxClockSkew in the
// future (ErrAwardFromFuture), an ID already seen (ErrAwardReplayed) and,
// when full, any new one (ErrDedupFull). a must have been opened (signature
// verified) first.
func (d *Dedup) Check(a *Award, self peer.ID, now time.Time) error {
	switch {
	case a.Executor != self:
		return &Refusal{Code: CodeWrongExecutor, Reason: "award names executor " + a.Executor.String(), Err: ErrWrongExecutor}
	case !now.Before(a.Expires):
		return &Refusal{Code: CodeAwardExpired, Reason: "award expired at " + a.Expires.UTC().Format(time.RFC3339Nano), Err: ErrAwardExpired}
	case a.IssuedAt.After(now.Add(MaxClockSkew)):
		return &Refusal{Code: CodeBadRequest, Reason: "award issued in the future; check the clocks", Err: ErrAwardFromFuture}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.purge(now)
	if _, ok := d.seen[a.AwardID]; ok {
		return &Refusal{Code: CodeAwardReplayed, Reason: "award " + a.AwardID.String() + " already seen", Err: ErrAwardReplayed}
	}
	if len(d.seen) >= d.max {
		return &Refusal{Code: CodeNoCapacity, Reason: "too many live awards", Err: ErrDedupFull}
	}
	d.add(a.AwardID, a.Expires)
	return nil
}

// Remember records an award ID that expires at expires, as when restoring
// from the job store. It reports false if the set is full.
func (d *Dedup) Remember(id AwardID, expires, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.purge(now)
	if _, ok := d.seen[id]; ok {
		return true
	}
	if len(d.seen) >= d.max {
		return false
	}
	d.add(id, expires)
	return true
}

// Seen reports whether id is remembered at now.
func (d *Dedup) Seen(id AwardID, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.purge(now)
	_, ok := d.seen[id]
	return ok
}

// Len is the number of remembered IDs, expired ones included until the next
// call that purges.
func (d *Dedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

func (d *Dedup) add(id AwardID, expires time.Time) {
	until := expires.Add(MaxClockSkew)
	d.seen[id] = until
	heap.Push(&d.order, expiryEntry{id: id, until: until})
}

func (d *Dedup) purge(now time.Time) {
	for d.order.Len() > 0 && !now.Before(d.order[0].until) {
		e := heap.Pop(&d.order).(expiryEntry)
		if until, ok := d.seen[e.id]; ok && until.Equal(e.until) {
			delete(d.seen, e.id)
		}
	}
}

type expiryEntry struct {
	id    AwardID
	until time.Time
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
