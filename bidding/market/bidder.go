package market

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// vetAnnounce decides on a gossip announcement before it spreads (the
// transport's topic validator): size, the author's rate, signature and
// author are checked.
func (ex *executor) vetAnnounce(from, author peer.ID, data []byte) (*bidding.Announce, verdict) {
	if len(data) > bidding.MaxAnnounceSize {
		return nil, verdictReject
	}
	if v := ex.announceRate(from, author); v != verdictAccept {
		return nil, v
	}
	a, err := bidding.OpenAnnounce(data)
	if err != nil {
		ex.log.Debug("rejected announcement", "from", from, "err", err)
		return nil, verdictReject
	}
	if author != a.Requester {
		ex.log.Debug("rejected announcement: author is not the requester", "author", author, "requester", a.Requester)
		return nil, verdictReject
	}
	return a, verdictAccept
}

// readAnnouncements answers every announcement of another node heard on
// the topic, maxAnnounceConcurrency at most at once.
func (ex *executor) readAnnouncements() {
	defer ex.wg.Done()
	for {
		a, err := ex.link.nextAnnounce(ex.ctx)
		if err != nil {
			return
		}
		select {
		case ex.announceSlots <- struct{}{}:
		default:
			ex.dropAnnouncement(a)
			continue
		}
		ex.wg.Add(1)
		go func() {
			defer ex.wg.Done()
			defer func() { <-ex.announceSlots }()
			reply := ex.answer(ex.ctx, a)
			if reply == nil {
				return
			}
			s, err := ex.link.openStream(ex.ctx, a.Requester, bidding.ProtocolBid)
			if err != nil {
				ex.log.Debug("cannot deliver bid", "job", a.JobCID, "err", err)
				return
			}
			defer s.Close()
			deadline(s, bidding.StreamTimeout)
			if err := ex.link.send(s, reply); err != nil {
				ex.log.Debug("cannot deliver bid", "job", a.JobCID, "err", err)
				ex.res.Release(a.JobCID)
				return
			}
			ex.holdWhileInContention(s, reply)
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
func (ex *executor) dropAnnouncement(a *bidding.Announce) {
	ex.cfg.Metrics.AnnouncementDropped("concurrency")
	n := ex.announceDrops.Add(1)
	now := time.Now().UnixNano()
	last := ex.dropLogged.Load()
	if (last == 0 || now-last >= int64(dropLogEvery)) && ex.dropLogged.CompareAndSwap(last, now) {
		ex.log.Warn("announcements dropped: too many in progress", "limit", maxAnnounceConcurrency, "dropped_total", n, "job", a.JobCID, "requester", a.Requester)
	}
}

// answerStream answers an announcement a requester sent directly, on its
// stream s (ProtocolBid).
func (ex *executor) answerStream(s io.ReadWriteCloser, a *bidding.Announce) {
	reply := ex.answer(ex.ctx, a)
	if reply == nil {
		return
	}
	if err := ex.link.send(s, reply); err != nil {
		ex.res.Release(a.JobCID)
		return
	}
	ex.holdWhileInContention(s, reply)
}

// holdWhileInContention keeps the reservation of a bid until the requester
// closes the bid stream (its window closed) or the reservation's TTL ends,
// then releases it. An award that arrives later is still accepted when the
// node has room: the reservation only keeps a node from promising the same
// capacity to every concurrent requester.
func (ex *executor) holdWhileInContention(s io.Reader, reply bidding.Message) {
	bid, ok := reply.(*bidding.Bid)
	if !ok {
		return
	}
	closeWrite(s)
	deadline(s, bidding.DefaultReservationTTL)
	_, _ = s.Read(make([]byte, 1)) // EOF when the requester closes
	ex.res.Release(bid.JobCID)
}

// answer decides on an announcement: a Bid, a Decline, or nil when this
// announcement (job and attempt) was already answered.
func (ex *executor) answer(ctx context.Context, a *bidding.Announce) (reply bidding.Message) {
	defer func() { ex.countAnswer(reply) }()
	key := answerKey{a.JobCID, a.Attempt}
	ex.mu.Lock()
	if _, seen := ex.answers[key]; seen {
		ex.mu.Unlock()
		return nil
	}
	ex.answers[key] = ex.now()
	ex.mu.Unlock()

	spec, err := a.JobSpec()
	if errors.Is(err, bidding.ErrSpecNotInline) {
		// Everything the announcement itself tells is checked before the
		// spec is fetched: only a node that would bid fetches.
		if r := ex.beforeFetch(ctx, a); r != nil {
			return bidding.NewDecline(a.JobCID, bidding.AwardID{}, ex.self, r, ex.now())
		}
		spec, err = ex.fetchSpec(ctx, a)
	}
	if err != nil {
		return bidding.NewDecline(a.JobCID, bidding.AwardID{}, ex.self, &bidding.Refusal{Code: bidding.CodeBadRequest, Reason: bidding.TruncateText(err.Error(), bidding.MaxReasonLen)}, ex.now())
	}
	if d := ex.policyDecline(ctx, a, spec); d != nil {
		return d
	}
	offer, err := ex.res.Admit(a.JobCID, spec, ex.view())
	if err != nil {
		r := refusal(err)
		r.Reason = bidding.TruncateText(r.Reason, bidding.MaxReasonLen)
		return bidding.NewDecline(a.JobCID, bidding.AwardID{}, ex.self, r, ex.now())
	}
	return ex.withCerts(bidding.NewBid(a.JobCID, ex.self, offer, ex.now()))
}

// beforeFetch decides what can be decided of an announcement by CID
// before its spec is fetched: the requester (policy allow-list with the
// certificates it presented, and its rate) and whether this node could
// take any job at all (an engine, room in its queue). Nil: fetch.
func (ex *executor) beforeFetch(ctx context.Context, a *bidding.Announce) *bidding.Refusal {
	ex.learn(a.Requester, a.Certs)
	if r := ex.requesterRefusal(ctx, a.JobCID, a.Requester); r != nil {
		return r
	}
	v := ex.view()
	if len(v.Engines()) == 0 {
		return &bidding.Refusal{Code: bidding.CodeEngineUnavailable, Reason: "this node runs no engine"}
	}
	if v.occ.QueueFull() {
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
func (ex *executor) fetchSpec(ctx context.Context, a *bidding.Announce) (*jobspec.Spec, error) {
	ctx, cancel := context.WithTimeout(ctx, maxSpecFetch)
	defer cancel()
	b, err := ex.cfg.Content.GetBlock(ctx, a.JobCID, []peer.AddrInfo{{ID: a.Requester}})
	if err != nil {
		return nil, err
	}
	return jobspec.Decode(b.RawData())
}

// countAnswer counts a bid or a decline answer (nil: none sent).
func (ex *executor) countAnswer(reply bidding.Message) {
	switch r := reply.(type) {
	case *bidding.Bid:
		ex.cfg.Metrics.Bid()
	case *bidding.Decline:
		ex.cfg.Metrics.Declined("announce", string(r.Code))
	}
}
