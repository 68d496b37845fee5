package market

import (
	"context"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// validateAnnounce is the gossipsub validator of the announcement topic:
// size, signature and author are checked before a message spreads.
func (m *Market) validateAnnounce(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if len(msg.Data) > bidding.MaxAnnounceSize {
		return pubsub.ValidationReject
	}
	if res := m.announceRate(from, msg); res != pubsub.ValidationAccept {
		return res
	}
	a, err := bidding.OpenAnnounce(msg.Data)
	if err != nil {
		m.log.Debug("rejected announcement", "from", from, "err", err)
		return pubsub.ValidationReject
	}
	if author := msg.GetFrom(); author != a.Requester {
		m.log.Debug("rejected announcement: author is not the requester", "author", author, "requester", a.Requester)
		return pubsub.ValidationReject
	}
	msg.ValidatorData = a
	return pubsub.ValidationAccept
}

// readAnnouncements answers every announcement heard on the topic.
func (m *Market) readAnnouncements() {
	defer m.wg.Done()
	for {
		msg, err := m.sub.Next(m.ctx)
		if err != nil {
			return
		}
		a, ok := msg.ValidatorData.(*bidding.Announce)
		if !ok || a.Requester == m.self {
			continue // our own jobs get our bid in-process
		}
		select {
		case m.announceSlots <- struct{}{}:
		default:
			m.dropAnnouncement(a)
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer func() { <-m.announceSlots }()
			reply := m.answer(m.ctx, a)
			if reply == nil {
				return
			}
			s, err := m.openStream(m.ctx, a.Requester, bidding.ProtocolBid)
			if err != nil {
				m.log.Debug("cannot deliver bid", "job", a.JobCID, "err", err)
				return
			}
			defer s.Close()
			deadline(s, bidding.StreamTimeout)
			if err := m.send(s, reply); err != nil {
				m.log.Debug("cannot deliver bid", "job", a.JobCID, "err", err)
				m.res.Release(a.JobCID)
				return
			}
			m.holdWhileInContention(s, reply)
		}()
	}
}

// maxAnnounceConcurrency bounds the gossip announcements answered at once
// (each may fetch a spec, size inputs and hold a bid stream); more are
// dropped and counted, like identify's maxPushConcurrency. A dropped job is
// not lost: its requester asks data holders directly and re-announces.
const maxAnnounceConcurrency = 32

// dropLogEvery is the least time between two logs of dropped announcements.
const dropLogEvery = 10 * time.Second

// dropAnnouncement counts an announcement dropped because
// maxAnnounceConcurrency were in progress, and logs the count (at most
// once per dropLogEvery).
func (m *Market) dropAnnouncement(a *bidding.Announce) {
	n := m.announceDrops.Add(1)
	now := time.Now().UnixNano()
	last := m.dropLogged.Load()
	if (last == 0 || now-last >= int64(dropLogEvery)) && m.dropLogged.CompareAndSwap(last, now) {
		m.log.Warn("announcements dropped: too many in progress", "limit", maxAnnounceConcurrency, "dropped_total", n, "job", a.JobCID, "requester", a.Requester)
	}
}

// AnnouncementsDropped is how many gossip announcements were dropped
// because maxAnnounceConcurrency were in progress.
func (m *Market) AnnouncementsDropped() int64 { return m.announceDrops.Load() }

// handleBidStream serves ProtocolBid: either a requester asks us directly
// (Announce in, Bid or Decline out) or a bidder delivers its answer to one
// of our announcements (Bid or Decline in).
func (m *Market) handleBidStream(s network.Stream) {
	defer s.Close()
	if !m.allowStream(s) {
		_ = s.Reset()
		return
	}
	deadline(s, bidding.StreamTimeout)
	msg, _, err := recv(s, bidding.MaxAnnounceSize, bidding.KindAnnounce, bidding.KindBid, bidding.KindDecline)
	if err != nil {
		m.log.Debug("bad message on bid stream", "peer", s.Conn().RemotePeer(), "err", err)
		_ = s.Reset()
		return
	}
	if msg.Signer() != s.Conn().RemotePeer() {
		m.log.Debug("bid stream message signed by another peer", "peer", s.Conn().RemotePeer(), "signer", msg.Signer())
		_ = s.Reset()
		return
	}
	switch x := msg.(type) {
	case *bidding.Announce:
		if reply := m.answer(m.ctx, x); reply != nil {
			if err := m.send(s, reply); err != nil {
				m.res.Release(x.JobCID)
				return
			}
			m.holdWhileInContention(s, reply)
		}
	case *bidding.Bid:
		// The requester keeps the stream open while the bid is in
		// contention: closing it tells the bidder to release its capacity.
		done := make(chan struct{})
		if m.deliverBid(x, func() { close(done) }) {
			select {
			case <-done:
			case <-m.ctx.Done():
			case <-time.After(bidding.DefaultReservationTTL):
			}
		}
	case *bidding.Decline:
		m.deliverDecline(x)
	}
}

// holdWhileInContention keeps the reservation of a bid until the requester
// closes the bid stream (its window closed) or the reservation's TTL ends,
// then releases it. An award that arrives later is still accepted when the
// node has room: the reservation only keeps a node from promising the same
// capacity to every concurrent requester.
func (m *Market) holdWhileInContention(s network.Stream, reply bidding.Message) {
	bid, ok := reply.(*bidding.Bid)
	if !ok {
		return
	}
	_ = s.CloseWrite()
	deadline(s, bidding.DefaultReservationTTL)
	_, _ = s.Read(make([]byte, 1)) // EOF when the requester closes
	m.res.Release(bid.JobCID)
}

// answer decides on an announcement: a Bid, a Decline, or nil when this
// announcement (job and attempt) was already answered.
func (m *Market) answer(ctx context.Context, a *bidding.Announce) bidding.Message {
	key := answerKey{a.JobCID, a.Attempt}
	m.mu.Lock()
	if _, seen := m.answers[key]; seen {
		m.mu.Unlock()
		return nil
	}
	m.answers[key] = time.Now()
	m.mu.Unlock()

	spec, err := a.JobSpec()
	if errors.Is(err, bidding.ErrSpecNotInline) {
		// Everything the announcement itself tells is checked before the
		// spec is fetched: only a node that would bid fetches.
		if r := m.beforeFetch(ctx, a); r != nil {
			return bidding.NewDecline(a.JobCID, bidding.AwardID{}, m.self, r, time.Now())
		}
		spec, err = m.fetchSpec(ctx, a)
	}
	if err != nil {
		return bidding.NewDecline(a.JobCID, bidding.AwardID{}, m.self, &bidding.Refusal{Code: bidding.CodeBadRequest, Reason: bidding.TruncateText(err.Error(), bidding.MaxReasonLen)}, time.Now())
	}
	if d := m.policyDecline(ctx, a, spec); d != nil {
		return d
	}
	offer, err := m.res.Admit(a.JobCID, spec, m.view())
	if err != nil {
		var r *bidding.Refusal
		if !errors.As(err, &r) {
			r = &bidding.Refusal{Code: bidding.CodeBadRequest, Reason: err.Error()}
		}
		r.Reason = bidding.TruncateText(r.Reason, bidding.MaxReasonLen)
		return bidding.NewDecline(a.JobCID, bidding.AwardID{}, m.self, r, time.Now())
	}
	return m.withCerts(bidding.NewBid(a.JobCID, m.self, offer, time.Now()))
}

// beforeFetch decides what can be decided of an announcement by CID
// before its spec is fetched: the requester (policy allow-list with the
// certificates it presented, and its rate) and whether this node could
// take any job at all (an engine, room in its queue). Nil: fetch.
func (m *Market) beforeFetch(ctx context.Context, a *bidding.Announce) *bidding.Refusal {
	m.learn(a.Requester, a.Certs)
	if r := m.requesterRefusal(ctx, a.JobCID, a.Requester); r != nil {
		return r
	}
	v := m.view()
	if len(v.Engines()) == 0 {
		return &bidding.Refusal{Code: bidding.CodeEngineUnavailable, Reason: "this node runs no engine"}
	}
	if v.FreeSlots() == 0 && v.QueueLimit() > 0 && v.QueueDepth() >= v.QueueLimit() {
		return &bidding.Refusal{Code: bidding.CodeNoCapacity, Reason: fmt.Sprintf("queue full (%d jobs waiting)", v.QueueDepth())}
	}
	return nil
}

// fetchSpec fetches the spec block of an announcement by CID. The hint is
// the requester's peer ID only: the addresses an announcement carries came
// through gossip, from anyone, and are never dialled (a node would
// otherwise connect wherever a flood of announcements points it). The
// block comes from connected peers (the requester over the connection a
// direct ask came on) or from providers the DHT names.
func (m *Market) fetchSpec(ctx context.Context, a *bidding.Announce) (*jobspec.Spec, error) {
	ctx, cancel := context.WithTimeout(ctx, maxSpecFetch)
	defer cancel()
	b, err := m.cfg.Content.GetBlock(ctx, a.JobCID, []peer.AddrInfo{{ID: a.Requester}})
	if err != nil {
		return nil, err
	}
	return jobspec.Decode(b.RawData())
}
