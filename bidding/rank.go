package bidding

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// OrgResolver returns the organizations a peer belongs to. It is the hook
// the trust layer fills; nil means org membership is unknown, so only
// constraints.executors.peers can make a peer eligible.
type OrgResolver func(peer.ID) []string

// Eligible reports whether bidder may execute spec under
// constraints.executors: anyone when the list is empty, else a listed peer
// or a member of a listed org.
func Eligible(spec *jobspec.Spec, bidder peer.ID, orgsOf OrgResolver) bool {
	ex := spec.Constraints.Executors
	if ex.Empty() {
		return true
	}
	if slices.Contains(ex.Peers, bidder) {
		return true
	}
	if orgsOf == nil || len(ex.Orgs) == 0 {
		return false
	}
	for _, o := range orgsOf(bidder) {
		if slices.Contains(ex.Orgs, o) {
			return true
		}
	}
	return false
}

// UnknownTotal is the job total of a requester that could not size the
// job's inputs (it does not hold their roots): ranking then uses the
// median of the totals bids claim, which one lying bid among honest sizers
// cannot move. A requester that holds the inputs' roots passes their
// summed size instead, which no bid can move.
const UnknownTotal int64 = -1

// jobTotal is the denominator of the locality ratio: known, the requester's
// own total (it sized the inputs); else the upper median of the positive
// TotalBytes the bids claim (bidders cannot size content they hold nothing
// of, and report 0; every bidder that holds the root reports the true
// total, so a liar moves the median only when honest sizers are not the
// majority).
func jobTotal(bids []Bid, known int64) int64 {
	if known >= 0 {
		return known
	}
	var claims []int64
	for _, b := range bids {
		if b.TotalBytes > 0 {
			claims = append(claims, b.TotalBytes)
		}
	}
	if len(claims) == 0 {
		return 0
	}
	slices.Sort(claims)
	return claims[len(claims)/2]
}

// localOf is a bid's locality numerator, comparable across bids sharing
// the denominator total: its claimed local bytes capped at the total (a bid
// cannot hold more of the job than the job is).
func localOf(b *Bid, total int64) int64 { return min(max(b.LocalBytes, 0), total) }

// Rank orders bids best first, by
//
//  1. locality: LocalBytes / T, each LocalBytes capped at T, where T is
//     the median TotalBytes the bids claim (see jobTotal; with T = 0, a
//     stateless job, every bid is fully local);
//  2. fewer queued jobs (QueueDepth), then more FreeSlots;
//  3. earlier EstStart;
//  4. a stable tie-break: sha256(job CID || bidder) then the bidder's ID.
//     Hashing with the job spreads ties across nodes instead of sending
//     every tied job to the lowest peer ID.
//
// It returns a new slice; bids is not modified. A requester that knows
// the job's size uses RankTotal.
func Rank(bids []Bid) []Bid { return rank(bids, true, UnknownTotal) }

// RankFor is Rank honoring the spec's locality mode: with "anywhere",
// locality is not a criterion.
func RankFor(spec *jobspec.Spec, bids []Bid) []Bid {
	return RankTotal(spec, bids, UnknownTotal)
}

// RankTotal is RankFor with T the requester's own total of the job's
// inputs (UnknownTotal: the largest total claimed). Each bid's LocalBytes
// counts at most total, so no claim, however large, outranks a bid holding
// everything, and no claimed TotalBytes changes how the others compare.
func RankTotal(spec *jobspec.Spec, bids []Bid, total int64) []Bid {
	return rank(bids, spec.Constraints.Locality != jobspec.Anywhere, total)
}

func rank(bids []Bid, byLocality bool, known int64) []Bid {
	out := slices.Clone(bids)
	total := jobTotal(out, known)
	keys := make(map[peer.ID][32]byte, len(out))
	for _, b := range out {
		keys[b.Bidder] = tieKey(&b)
	}
	slices.SortStableFunc(out, func(a, b Bid) int {
		if byLocality {
			if la, lb := localOf(&a, total), localOf(&b, total); la != lb {
				return cmpDesc(la, lb)
			}
		}
		if a.QueueDepth != b.QueueDepth {
			return cmpAsc(a.QueueDepth, b.QueueDepth)
		}
		if a.FreeSlots != b.FreeSlots {
			return cmpDesc(a.FreeSlots, b.FreeSlots)
		}
		if a.EstStart != b.EstStart {
			return cmpAsc(a.EstStart, b.EstStart)
		}
		ka, kb := keys[a.Bidder], keys[b.Bidder]
		if c := bytes.Compare(ka[:], kb[:]); c != 0 {
			return c
		}
		return cmpAsc(a.Bidder, b.Bidder)
	})
	return out
}

func tieKey(b *Bid) [32]byte {
	h := sha256.New()
	h.Write(b.JobCID.Bytes())
	h.Write([]byte(b.Bidder))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func cmpAsc[T int | int64 | time.Duration | peer.ID](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpDesc[T int | int64](a, b T) int { return -cmpAsc(a, b) }

// FullyLocal reports whether b holds all of the job's content, judged
// against the other bids (see Rank). A stateless spec (no CID or url
// input: jobspec.Spec.Stateless) is fully local everywhere; a spec with
// inputs that no bidder could size is local nowhere (a url input nobody
// imported yet, too).
func FullyLocal(spec *jobspec.Spec, b *Bid, bids []Bid) bool {
	return fullyLocal(spec, b, bids, UnknownTotal)
}

func fullyLocal(spec *jobspec.Spec, b *Bid, bids []Bid, known int64) bool {
	if spec.Stateless() {
		return true
	}
	total := jobTotal(bids, known)
	return total > 0 && b.LocalBytes >= total
}

// WindowDone reports whether the bid window of spec can close after
// elapsed, with bids received so far (already filtered by Eligible). It
// closes at DefaultBidWindow, or earlier for a batch job (or an ops job with
// a Count) once Count bids are fully local and idle. An ops job without a
// Count waits the whole window: everyone who bids within it runs the job.
func WindowDone(spec *jobspec.Spec, bids []Bid, elapsed time.Duration) bool {
	return windowDone(spec, bids, elapsed, DefaultBidWindow, UnknownTotal)
}

func windowDone(spec *jobspec.Spec, bids []Bid, elapsed, window time.Duration, known int64) bool {
	if elapsed >= window {
		return true
	}
	want := spec.Executors()
	if want <= 0 {
		return false
	}
	n := 0
	for i := range bids {
		if bids[i].Idle() && (spec.Constraints.Locality == jobspec.Anywhere || fullyLocal(spec, &bids[i], bids, known)) {
			n++
		}
	}
	return n >= want
}

// Select returns the bids to award, best first: the top Count for a batch
// job, every bid for an ops job (the top Count when Count > 0). Bids from
// peers for which skip returns true (nil: none) are left out; bids should
// already be filtered by Eligible.
func Select(spec *jobspec.Spec, bids []Bid, skip func(peer.ID) bool) []Bid {
	return selectBids(spec, bids, skip, UnknownTotal)
}

func selectBids(spec *jobspec.Spec, bids []Bid, skip func(peer.ID) bool, known int64) []Bid {
	return selectRanked(spec, RankTotal(spec, bids, known), skip)
}

// selectRanked is selectBids of bids already ranked.
func selectRanked(spec *jobspec.Spec, ranked []Bid, skip func(peer.ID) bool) []Bid {
	out := ranked[:0]
	for _, b := range ranked {
		if skip == nil || !skip(b.Bidder) {
			out = append(out, b)
		}
	}
	if spec.Count > 0 && len(out) > spec.Count {
		out = out[:spec.Count]
	}
	return out
}

// NextAnnounce returns how long a requester waits after its announcement
// number attempt (1 for the first) before announcing again when no
// acceptable bid came: 0.5 s, 1 s, 2 s, 4 s, then 8 s, until the job's
// queue timeout. attempt < 1 returns 0 (announce now).
func NextAnnounce(attempt int) time.Duration {
	if attempt < 1 {
		return 0
	}
	d := AnnounceBackoffMin
	for i := 1; i < attempt && d < AnnounceBackoffMax; i++ {
		d *= 2
	}
	return min(d, AnnounceBackoffMax)
}
