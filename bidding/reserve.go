package bidding

import (
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Reservations holds the capacity a bidder promised in its bids, per job,
// for a TTL (DefaultReservationTTL). While a reservation lives, admission
// sees one slot fewer and the job's resources taken, so a burst of
// announcements gets bids that queue instead of all claiming the same free
// slot. A reservation ends when the job is awarded here (Claim), when the
// bidder learns it will not be (Release), or when its TTL passes.
//
// It is safe for concurrent use. The clock is injected for tests and
// simulations.
type Reservations struct {
	mu   sync.Mutex
	ttl  time.Duration
	now  func() time.Time
	held map[cid.Cid]reservation
}

type reservation struct {
	need    jobspec.Resources
	expires time.Time
}

// NewReservations returns an empty set. ttl <= 0 means
// DefaultReservationTTL; a nil now means time.Now.
func NewReservations(ttl time.Duration, now func() time.Time) *Reservations {
	if ttl <= 0 {
		ttl = DefaultReservationTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Reservations{ttl: ttl, now: now, held: map[cid.Cid]reservation{}}
}

// TTL is how long a reservation lives.
func (r *Reservations) TTL() time.Duration { return r.ttl }

// Admit runs Admit against view minus the live reservations of other jobs
// and, when the job is admitted, reserves capacity for it (refreshing an
// existing reservation of the same job, as on a re-announce). The offer's
// ReservationTTL is set. Checking and reserving are one atomic step.
func (r *Reservations) Admit(job cid.Cid, spec *jobspec.Spec, view NodeView) (Offer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.purge(now)
	o, err := Admit(spec, r.viewLocked(view, job))
	if err != nil {
		return o, err
	}
	r.held[job] = reservation{need: spec.Resources, expires: now.Add(r.ttl)}
	o.ReservationTTL = r.ttl
	return o, nil
}

// Reserve holds need for job until the TTL passes, and returns when that is.
func (r *Reservations) Reserve(job cid.Cid, need jobspec.Resources) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp := r.now().Add(r.ttl)
	r.held[job] = reservation{need: need, expires: exp}
	return exp
}

// Claim ends job's reservation because the job was awarded here: from now
// on the running (or queued) job is accounted by the node's own view. It
// reports whether a live reservation existed; an executor may still accept
// an award whose reservation expired if it has room.
func (r *Reservations) Claim(job cid.Cid) bool { return r.Release(job) }

// Release ends job's reservation (the award went elsewhere, or was declined)
// and reports whether a live one existed.
func (r *Reservations) Release(job cid.Cid) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.held[job]
	delete(r.held, job)
	return ok && r.now().Before(res.expires)
}

// Held returns the number of live reservations and the resources they hold.
func (r *Reservations) Held() (int, jobspec.Resources) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purge(r.now())
	return r.sumLocked(cid.Undef)
}

// View returns view with the live reservations taken off its free slots and
// resources.
func (r *Reservations) View(view NodeView) NodeView {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purge(r.now())
	return r.viewLocked(view, cid.Undef)
}

func (r *Reservations) purge(now time.Time) {
	for k, res := range r.held {
		if !now.Before(res.expires) {
			delete(r.held, k)
		}
	}
}

func (r *Reservations) sumLocked(except cid.Cid) (int, jobspec.Resources) {
	var (
		n   int
		sum jobspec.Resources
	)
	for k, res := range r.held {
		if k != except {
			n++
			sum = sum.Add(res.need)
		}
	}
	return n, sum
}

// viewLocked snapshots the reservations (except one job's) over view.
func (r *Reservations) viewLocked(view NodeView, except cid.Cid) NodeView {
	n, sum := r.sumLocked(except)
	if n == 0 {
		return view
	}
	return &reservedView{NodeView: view, n: n, sum: sum}
}

// reservedView is a NodeView minus n reservations holding sum.
type reservedView struct {
	NodeView
	n   int
	sum jobspec.Resources
}

func (v *reservedView) FreeSlots() int { return max(v.NodeView.FreeSlots()-v.n, 0) }

func (v *reservedView) QueueDepth() int {
	return v.NodeView.QueueDepth() + max(v.n-v.NodeView.FreeSlots(), 0)
}

func (v *reservedView) Free() jobspec.Resources {
	f := v.NodeView.Free().Sub(v.sum)
	return jobspec.Resources{MilliCPU: max(f.MilliCPU, 0), Memory: max(f.Memory, 0), Disk: max(f.Disk, 0)}
}
