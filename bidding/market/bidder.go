package market

import (
	"context"
	"errors"
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
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
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

	spec, err := m.announcedSpec(ctx, a)
	if err != nil {
		return bidding.NewDecline(a.JobCID, bidding.AwardID{}, m.self, &bidding.Refusal{Code: bidding.CodeBadRequest, Reason: truncate(err.Error(), bidding.MaxReasonLen)}, time.Now())
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
		r.Reason = truncate(r.Reason, bidding.MaxReasonLen)
		return bidding.NewDecline(a.JobCID, bidding.AwardID{}, m.self, r, time.Now())
	}
	return m.withCerts(bidding.NewBid(a.JobCID, m.self, offer, time.Now()))
}

// announcedSpec returns the announced spec: inline, or fetched by CID from
// the requester.
func (m *Market) announcedSpec(ctx context.Context, a *bidding.Announce) (*jobspec.Spec, error) {
	spec, err := a.JobSpec()
	if !errors.Is(err, bidding.ErrSpecNotInline) {
		return spec, err
	}
	ctx, cancel := context.WithTimeout(ctx, maxSpecFetch)
	defer cancel()
	hint := peer.AddrInfo{ID: a.Requester, Addrs: a.Addrs}
	b, err := m.cfg.Content.GetBlock(ctx, a.JobCID, []peer.AddrInfo{hint})
	if err != nil {
		return nil, err
	}
	return jobspec.Decode(b.RawData())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
