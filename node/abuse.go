package node

import (
	"github.com/shoalnet/shoal/bidding/market"
	"math"
	"sort"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/internal/metrics"
	"github.com/shoalnet/shoal/p2p"
)

// Abuse resistance: per-peer rate limits on announcements and bid streams,
// gossipsub peer scoring fed by them, and resource-manager stream limits
// per protocol. docs/security.md explains the numbers.
const (
	// abuseHalfLife is how fast a peer's excess (announcements over its
	// rate) is forgiven.
	abuseHalfLife = 5 * time.Second
	// maxAbuseStats bounds the peers tracked.
	maxAbuseStats = 8192

	// excessFactor sets the allowance: a peer's score drops only when its
	// excess is what sending excessFactor times its rate *over* the limit
	// would accumulate (rate × factor × halfLife/ln 2: 3607 announcements
	// at the default 100/s). A requester that bursts or runs somewhat
	// above its rate loses those announcements but keeps its standing; a
	// flood of several thousand a second is graylisted within seconds.
	excessFactor = 5
	// Gossipsub score thresholds. A peer's application score is minus its
	// excess beyond the allowance, so a peer 100 beyond it stops receiving
	// gossip, and one 300 beyond is graylisted: its RPCs are dropped before
	// any signature is checked.
	gossipThreshold   = -100
	publishThreshold  = -200
	graylistThreshold = -300
	// invalidWeight is the score weight of the square of the (decaying)
	// count of invalid announcements a peer delivered (P4): about 17
	// invalid or oversized announcements graylist a peer.
	invalidWeight = -1
	invalidDecay  = 0.5
	// scoreRetention keeps a disconnected peer's score, so reconnecting
	// does not wash it.
	scoreRetention = 10 * time.Minute
	// validateQueue is gossipsub's queue of messages awaiting validation.
	validateQueue = 256
)

// protocolLimits are the resource manager's stream limits of the job
// protocols: all peers, then per peer (libp2p's own per-peer stream limit,
// 256 inbound plus 128 per GiB of memory, applies as well). Bid streams
// stay open while the bid is in contention, award streams while the job
// runs: one of each per job a requester has in flight with this node.
func protocolLimits() []p2p.ProtocolLimit {
	return []p2p.ProtocolLimit{
		{Protocol: bidding.ProtocolBid, Inbound: 4096, Outbound: 4096, PeerInbound: 512, PeerOutbound: 512},
		{Protocol: bidding.ProtocolAward, Inbound: 4096, Outbound: 4096, PeerInbound: 1024, PeerOutbound: 1024},
		{Protocol: bidding.ProtocolReceipt, Inbound: 1024, Outbound: 1024, PeerInbound: 128, PeerOutbound: 128},
	}
}

// PeerAbuse is how a peer fares under the abuse limits (`shoal policy peers`).
type PeerAbuse struct {
	Peer string `json:"peer"`
	// Score is the peer's gossipsub score (0 when unknown); below -300 the
	// peer is graylisted.
	Score float64 `json:"score"`
	// Excess is the decaying count of announcements over the peer's rate
	// (its application score is minus what exceeds the allowance).
	Excess float64 `json:"excess"`
	// AnnouncesDropped and StreamsRefused count since the daemon started.
	AnnouncesDropped int64 `json:"announces_dropped"`
	StreamsRefused   int64 `json:"streams_refused"`
	// Reputation is what this node saw of the peer as an executor of its
	// jobs (absent when it never used it; local, never gossiped).
	Reputation *market.PeerReputation `json:"reputation,omitempty"`
}

type abuse struct {
	mu        sync.Mutex
	allowance float64 // excess tolerated before the score drops
	ann       *policy.Buckets
	bids      *policy.Buckets
	peers     map[peer.ID]*peerAbuse
	scores    map[peer.ID]float64
	now       func() time.Time
	metrics   *metrics.Metrics // nil: none
}

type peerAbuse struct {
	excess             float64
	at                 time.Time
	announces, streams int64
}

func newAbuse(p policy.Abuse) *abuse {
	a := &abuse{peers: map[peer.ID]*peerAbuse{}, scores: map[peer.ID]float64{}, now: time.Now}
	a.setLimits(p)
	return a
}

func (a *abuse) setLimits(p policy.Abuse) {
	e := p.Effective()
	ann := policy.NewBuckets(e.AnnouncesPerSecond, e.AnnounceBurst, maxAbuseStats)
	bids := policy.NewBuckets(e.BidStreamsPerSecond, e.BidStreamBurst, maxAbuseStats)
	allowance := e.AnnouncesPerSecond * excessFactor * abuseHalfLife.Seconds() / math.Ln2
	a.mu.Lock()
	a.ann, a.bids, a.allowance = ann, bids, allowance
	a.mu.Unlock()
}

func (a *abuse) buckets() (ann, bids *policy.Buckets) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ann, a.bids
}

// allowAnnounce takes an announcement token of author.
func (a *abuse) allowAnnounce(author peer.ID) bool {
	ann, _ := a.buckets()
	if ann.Allow(author, a.now()) {
		return true
	}
	a.metrics.AnnouncementDropped("rate")
	a.note(author, true, func(s *peerAbuse) { s.announces++ })
	return false
}

// allowStream takes a bid-stream token of p.
func (a *abuse) allowStream(p peer.ID) bool {
	_, bids := a.buckets()
	if bids.Allow(p, a.now()) {
		return true
	}
	a.note(p, false, func(s *peerAbuse) { s.streams++ })
	return false
}

// note counts a refusal of p, and adds one to its excess when scored.
func (a *abuse) note(p peer.ID, scored bool, count func(*peerAbuse)) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.peers[p]
	if s == nil {
		if len(a.peers) >= maxAbuseStats {
			for q := range a.peers {
				delete(a.peers, q)
				break
			}
		}
		s = &peerAbuse{at: now}
		a.peers[p] = s
	}
	s.excess = decayed(s.excess, now.Sub(s.at))
	if scored {
		s.excess++
	}
	s.at = now
	count(s)
}

func decayed(v float64, dt time.Duration) float64 {
	if dt <= 0 {
		return v
	}
	return v * math.Exp2(-dt.Seconds()/abuseHalfLife.Seconds())
}

// appScore is gossipsub's application-specific score of p: minus its
// excess beyond the allowance. gossipsub asks for it on every RPC from p,
// so it is one map lookup.
func (a *abuse) appScore(p peer.ID) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.peers[p]
	if s == nil {
		return 0
	}
	return -max(0, decayed(s.excess, a.now().Sub(s.at))-a.allowance)
}

// inspect receives gossipsub's scores every second.
func (a *abuse) inspect(scores map[peer.ID]float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scores = scores
}

// stats lists peers with a score or an excess, worst first.
func (a *abuse) stats() []PeerAbuse {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	seen := map[peer.ID]*PeerAbuse{}
	for p, sc := range a.scores {
		seen[p] = &PeerAbuse{Peer: p.String(), Score: sc}
	}
	for p, s := range a.peers {
		x := seen[p]
		if x == nil {
			x = &PeerAbuse{Peer: p.String()}
			seen[p] = x
		}
		x.Excess = math.Round(decayed(s.excess, now.Sub(s.at))*10) / 10
		x.AnnouncesDropped, x.StreamsRefused = s.announces, s.streams
	}
	out := make([]PeerAbuse, 0, len(seen))
	for _, x := range seen {
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score < out[j].Score
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// pubsubOptions turn on gossipsub peer scoring: invalid or oversized
// announcements (rejected by the market's validator) count against the
// peer that delivered them (P4), the abuse excess is the application
// score (P5), and protocol misbehaviour (P7) counts too. IP colocation is
// not scored: test networks and NATed organizations share addresses.
func (a *abuse) pubsubOptions() []pubsub.Option {
	params := &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		Topics: map[string]*pubsub.TopicScoreParams{
			bidding.AnnounceTopic: {
				SkipAtomicValidation: true,
				TopicWeight:          1,
				// Time in mesh is not scored, but gossipsub divides by
				// its quantum whatever the weight.
				TimeInMeshQuantum:              time.Second,
				InvalidMessageDeliveriesWeight: invalidWeight,
				InvalidMessageDeliveriesDecay:  invalidDecay,
			},
		},
		AppSpecificScore:          a.appScore,
		AppSpecificWeight:         1,
		BehaviourPenaltyWeight:    -1,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     0.9,
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               scoreRetention,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		SkipAtomicValidation: true,
		GossipThreshold:      gossipThreshold,
		PublishThreshold:     publishThreshold,
		GraylistThreshold:    graylistThreshold,
	}
	return []pubsub.Option{
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(a.inspect, time.Second),
		// Room for a burst of announcements waiting for validation (the
		// default is 32): a flood is ignored per author by the validator,
		// and dropped unread once its author is graylisted.
		pubsub.WithValidateQueueSize(validateQueue),
	}
}
