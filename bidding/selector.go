package bidding

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Errors of Selector.Offer. The requester drops such bids silently.
var (
	ErrWrongJob    = errors.New("bidding: bid for another job")
	ErrNotEligible = errors.New("bidding: bidder not eligible for this job")
	ErrExcluded    = errors.New("bidding: bidder excluded after a failure")
)

// Selector is the requester's bookkeeping for one job: it collects bids,
// says when the bid window can close, picks the winners, and gives the
// next-best bid when an executor fails. It keeps no clock; every call takes
// the current time. It is safe for concurrent use.
type Selector struct {
	mu       sync.Mutex
	job      cid.Cid
	spec     *jobspec.Spec
	window   time.Duration
	orgsOf   OrgResolver
	total    int64 // the requester's size of the inputs, or UnknownTotal
	opened   time.Time
	bids     map[peer.ID]received
	awarded  map[peer.ID]bool
	excluded map[peer.ID]bool
	// asked are the peers a solicited round asked directly, each true once
	// it answered (bid, declined, was refused or could not be reached).
	asked map[peer.ID]bool
	// score is the requester's reputation of a bidder (nil: none; see
	// WithReputation).
	score func(peer.ID) int
}

type received struct {
	bid Bid
	at  time.Time
}

// SelectorOption configures a Selector.
type SelectorOption func(*Selector) error

// WithWindow sets the longest bid window (default DefaultBidWindow); it
// must be positive and at most 10 s.
func WithWindow(d time.Duration) SelectorOption {
	return func(s *Selector) error {
		if d <= 0 || d > 10*time.Second {
			return fmt.Errorf("bid window %s: want more than 0 and at most 10s", d)
		}
		s.window = d
		return nil
	}
}

// WithOrgResolver sets the org membership hook used for
// constraints.executors.orgs.
func WithOrgResolver(f OrgResolver) SelectorOption {
	return func(s *Selector) error {
		s.orgsOf = f
		return nil
	}
}

// WithTotal sets the job's size as the requester knows it: the summed size
// of its inputs (from the requester's content store). Ranking and the
// fully-local test then use it instead of the largest total a bid claims,
// and cap each bid's LocalBytes at it. Default UnknownTotal.
func WithTotal(total int64) SelectorOption {
	return func(s *Selector) error {
		if total < 0 && total != UnknownTotal {
			return fmt.Errorf("job total %d: want at least 0, or UnknownTotal", total)
		}
		s.total = total
		return nil
	}
}

// NewSelector starts selecting executors for job, whose bid window opens
// at now.
func NewSelector(job cid.Cid, spec *jobspec.Spec, now time.Time, opts ...SelectorOption) (*Selector, error) {
	s := &Selector{
		job:      job,
		spec:     spec,
		window:   DefaultBidWindow,
		total:    UnknownTotal,
		opened:   now,
		bids:     map[peer.ID]received{},
		awarded:  map[peer.ID]bool{},
		excluded: map[peer.ID]bool{},
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("selector: %w", err)
		}
	}
	return s, nil
}

// Offer records a verified bid received at now. Bids for another job, from
// ineligible or excluded bidders are refused; a bidder's newer bid
// replaces its older one.
func (s *Selector) Offer(b *Bid, now time.Time) error {
	if b.JobCID != s.job {
		return fmt.Errorf("%w: %s, selecting for %s", ErrWrongJob, b.JobCID, s.job)
	}
	if !Eligible(s.spec, b.Bidder, s.orgsOf) {
		return fmt.Errorf("%w: %s", ErrNotEligible, b.Bidder)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.excluded[b.Bidder] {
		return fmt.Errorf("%w: %s", ErrExcluded, b.Bidder)
	}
	if old, ok := s.bids[b.Bidder]; ok && old.bid.IssuedAt.After(b.IssuedAt) {
		return nil
	}
	s.bids[b.Bidder] = received{bid: *b, at: now}
	s.answeredLocked(b.Bidder)
	return nil
}

// Solicit makes the current window a solicited round, whose asks go out
// at now: only peers (and the requester itself, which answers in-process
// before) were asked, and the window may close as soon as each of them
// answered, and at the latest SolicitedWindowFactor times the bid window
// after now (not after the lookup that chose the peers). Restart ends the
// round.
func (s *Selector) Solicit(peers []peer.ID, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = now
	s.asked = make(map[peer.ID]bool, len(peers))
	for _, p := range peers {
		s.asked[p] = false
	}
	for p := range s.bids {
		s.answeredLocked(p)
	}
}

// Solicited reports whether the current window is a solicited round.
func (s *Selector) Solicited() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.asked) > 0
}

// Answered records that p will not bid in this window: it declined, its
// bid was refused, or it could not be reached.
func (s *Selector) Answered(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answeredLocked(p)
}

func (s *Selector) answeredLocked(p peer.ID) {
	if _, ok := s.asked[p]; ok {
		s.asked[p] = true
	}
}

// Done reports whether the bid window can close at now (see WindowDone),
// or, in a solicited round, every peer asked has answered.
func (s *Selector) Done(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.asked) > 0 && s.allAnsweredLocked() {
		return true
	}
	bids := s.openBidsLocked(time.Time{})
	if s.score != nil {
		// A bidder of negative reputation ranks last: its bid does not
		// close the window early before better ones had their chance.
		bids = slices.DeleteFunc(bids, func(b Bid) bool { return s.score(b.Bidder) < 0 })
	}
	if v := s.spec.Verify; v != nil && v.Distinct == jobspec.DistinctOrg {
		// Replicas want distinct orgs: bids of an org already bid for do
		// not close the window early.
		bids, _ = s.splitDistinctLocked(bids)
	}
	return windowDone(s.spec, bids, now.Sub(s.opened), s.boundLocked(), s.total)
}

func (s *Selector) allAnsweredLocked() bool {
	for _, done := range s.asked {
		if !done {
			return false
		}
	}
	return true
}

// Deadline is when the current bid window closes at the latest.
func (s *Selector) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened.Add(s.boundLocked())
}

// boundLocked is the longest the current window stays open: a solicited
// round waits SolicitedWindowFactor times longer for the few peers it asked
// (it closes as soon as they answered).
func (s *Selector) boundLocked() time.Duration {
	if len(s.asked) > 0 {
		return SolicitedWindowFactor * s.window
	}
	return s.window
}

// Pick returns the bids to award now (see Select) and marks their bidders
// awarded. For a batch job it returns at most Count (a verified job's
// verify.replicas) minus the bidders already awarded and not excluded.
// Bids whose reservation has lapsed by now are skipped.
func (s *Selector) Pick(now time.Time) []Bid { return s.PickUpTo(now, 0) }

// PickUpTo is Pick returning at most n bids (n <= 0: no bound beyond
// Pick's): only the bidders returned are marked awarded.
func (s *Selector) PickUpTo(now time.Time, n int) []Bid {
	s.mu.Lock()
	defer s.mu.Unlock()
	spec := *s.spec
	spec.Count = s.spec.Executors()
	if spec.Count > 0 {
		running := 0
		for p := range s.awarded {
			if !s.excluded[p] {
				running++
			}
		}
		spec.Count -= running
		if spec.Count <= 0 {
			return nil
		}
	}
	if n > 0 && (spec.Count <= 0 || n < spec.Count) {
		spec.Count = n
	}
	all := s.orderLocked(RankTotal(s.spec, s.openBidsLocked(now), s.total))
	out := selectRanked(&spec, all, nil)
	for _, b := range out {
		s.awarded[b.Bidder] = true
	}
	return out
}

// Next returns the best bid not yet awarded nor excluded whose reservation
// still holds at now, and marks it awarded: the failover choice. When it
// returns false the requester re-announces.
func (s *Selector) Next(now time.Time) (Bid, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ranked := s.orderLocked(RankTotal(s.spec, s.openBidsLocked(now), s.total))
	if len(ranked) == 0 {
		return Bid{}, false
	}
	s.awarded[ranked[0].Bidder] = true
	return ranked[0], true
}

// Exclude removes a bidder for the rest of the job: it declined the award,
// missed its heartbeats, or failed with a retryable error.
func (s *Selector) Exclude(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.excluded[p] = true
	delete(s.bids, p)
}

// Restart opens a new bid window at now, for a re-announcement: bids are
// dropped, awarded and excluded bidders are remembered.
func (s *Selector) Restart(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = now
	s.bids = map[peer.ID]received{}
	s.asked = nil
}

// Bids returns the bids held, ranked.
func (s *Selector) Bids() []Bid {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]Bid, 0, len(s.bids))
	for _, r := range s.bids {
		all = append(all, r.bid)
	}
	return RankTotal(s.spec, all, s.total)
}

// openBidsLocked returns bids of bidders neither awarded nor excluded; with
// a non-zero now, only those whose reservation (DefaultReservationTTL when
// the bid names none) holds at now.
func (s *Selector) openBidsLocked(now time.Time) []Bid {
	out := make([]Bid, 0, len(s.bids))
	for p, r := range s.bids {
		if s.awarded[p] || s.excluded[p] {
			continue
		}
		ttl := r.bid.ReservationTTL
		if ttl <= 0 {
			ttl = DefaultReservationTTL
		}
		if !now.IsZero() && !now.Before(r.at.Add(ttl)) {
			continue
		}
		out = append(out, r.bid)
	}
	return out
}
