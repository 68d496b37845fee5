package market

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
)

// What happens to an award the requester gives up on (docs/protocol.md,
// "Failover" and "Completion"): its executor is sent a Cancel, over the
// award stream when it is open and over ProtocolReceipt until delivered
// (bidding.CancelChase at most), and the answer to that Cancel is read: a
// receipt that arrives for a superseded award is verified and recorded, and
// completes the job only when the job still needs a receipt.

// chain is one award slot of a job: the awards that replace one another by
// failover until one of them, or a late receipt of a superseded one,
// settles it. Its fields are guarded by jobRun.mu.
type chain struct {
	cancel  context.CancelFunc // ends the award the chain follows now
	settled bool
	active  bool
	lateBy  string // the superseded award whose late receipt settled it
}

// errSettled: the job needs no more receipts (a late receipt settled it).
var errSettled = errors.New("the job is already settled")

// newChain registers an active chain whose awards run under ctx.
func (r *jobRun) newChain(ctx context.Context) (context.Context, *chain) {
	cctx, cancel := context.WithCancel(ctx)
	ch := &chain{cancel: cancel, active: true}
	r.mu.Lock()
	if r.chains == nil {
		r.chains = map[*chain]struct{}{}
	}
	r.chains[ch] = struct{}{}
	r.mu.Unlock()
	return cctx, ch
}

// endChain marks a chain as no longer following any award.
func (r *jobRun) endChain(ch *chain) {
	r.mu.Lock()
	ch.active = false
	delete(r.chains, ch)
	r.mu.Unlock()
	ch.cancel()
}

// remaining is how many receipts a batch job still needs.
func (r *jobRun) remaining() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.need
}

// settledLate reports which superseded award settled ch, if one did.
func (r *jobRun) settledLate(ch *chain) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ch.lateBy
}

// record makes a final receipt the job's when its chain is not settled yet
// and the job still needs one (the first valid receipt wins), and keeps it
// as a late receipt otherwise. It returns whether the receipt settled the
// chain. A late receipt that settles cancels the award its chain follows
// now (or, when that chain gave up meanwhile, one chain too many).
func (r *jobRun) record(info ReceiptInfo, ch *chain, late bool) bool {
	m := r.m
	r.mu.Lock()
	taken := ch != nil && !ch.settled && (r.ops || r.need > 0)
	if late && r.ops {
		taken = false // an ops award names its node: nothing superseded it
	}
	var redundant *chain
	if taken {
		ch.settled = true
		if !r.ops {
			r.need--
		}
		if late {
			ch.lateBy = info.AwardID
			if !ch.active && len(r.chains) > r.need {
				for c := range r.chains {
					if !c.settled {
						redundant = c
						c.lateBy = info.AwardID
						break
					}
				}
			}
		}
	}
	r.mu.Unlock()
	short8 := info.AwardID
	if len(short8) > 8 {
		short8 = short8[:8]
	}
	err := m.jobs.Update(context.Background(), r.id.String(), func(j *Job) error {
		for _, x := range j.Receipts {
			if x.AwardID == info.AwardID {
				return errTerminal // stored once
			}
		}
		for _, x := range j.Late {
			if x.AwardID == info.AwardID {
				return errTerminal
			}
		}
		if taken && !j.State.Terminal() {
			j.Receipts = append(j.Receipts, info)
			if aw := j.award(info.AwardID); aw != nil {
				aw.State = "completed"
			}
			msg := fmt.Sprintf("receipt %s from %s: exit code %d", short(info.CID), short(info.Executor), info.ExitCode)
			if late {
				msg = fmt.Sprintf("late receipt %s of superseded award %s from %s: exit code %d; it settles the job (first valid receipt wins)",
					short(info.CID), short8, short(info.Executor), info.ExitCode)
			}
			j.log(Event{Type: "receipt", Peer: info.Executor, Message: msg})
			return nil
		}
		info.Late = true
		j.Late = append(j.Late, info)
		why := "the job was already settled"
		if info.Error != "" {
			why = info.Error
		}
		j.log(Event{Type: "receipt", Peer: info.Executor, Message: fmt.Sprintf("late receipt %s of award %s from %s recorded (%s); it does not settle the job",
			short(info.CID), short8, short(info.Executor), why)})
		return nil
	})
	if err != nil && !errors.Is(err, errTerminal) {
		m.log.Warn("job store update failed", "job", r.id, "err", err)
	}
	if late && m.lateHook != nil {
		m.lateHook(r.id.String())
	}
	if taken && late {
		ch.cancel()
		if redundant != nil {
			redundant.cancel()
		}
	}
	return taken
}

// supersede gives up on an award the requester stopped following: a Cancel
// on its stream when one is open (best effort, bounded), and a chase over
// ProtocolReceipt that delivers the Cancel and reads a late receipt.
func (r *jobRun) supersede(conn io.ReadWriteCloser, award bidding.AwardID, exec peer.ID, ch *chain, reason string) {
	m := r.m
	if conn != nil {
		writeDeadline(conn, time.Second)
		_ = m.tr.send(conn, r.cancelMsg(award, reason))
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.chase(award, exec, ch, reason)
	}()
}

// chase delivers the Cancel of a superseded award over ProtocolReceipt,
// retrying with backoff for CancelChase, and reads the executor's answer
// until its receipt (recorded as a late receipt), a Decline or the end of
// the stream.
func (r *jobRun) chase(award bidding.AwardID, exec peer.ID, ch *chain, reason string) {
	m := r.m
	ctx, cancel := context.WithTimeout(m.ctx, bidding.CancelChase)
	defer cancel()
	wait := bidding.AnnounceBackoffMin
	for {
		delivered := r.cancelOnce(ctx, award, exec, ch, reason)
		if delivered || ctx.Err() != nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, bidding.AnnounceBackoffMax)
	}
}

// cancelOnce writes one Cancel on ProtocolReceipt and reads the answer;
// it reports whether the executor answered (its receipt, a Decline, or a
// clean end of the stream).
func (r *jobRun) cancelOnce(ctx context.Context, award bidding.AwardID, exec peer.ID, ch *chain, reason string) bool {
	m := r.m
	conn, err := m.tr.dial(ctx, exec, bidding.ProtocolReceipt)
	if err != nil {
		return false
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	deadline(conn, bidding.StreamTimeout)
	if err := m.tr.send(conn, r.cancelMsg(award, reason)); err != nil {
		return false
	}
	for {
		// The run stops on the Cancel and its receipt follows; statuses
		// may come first (heartbeats keep the stream alive until then).
		deadline(conn, bidding.StreamTimeout)
		msg, raw, err := recv(conn, bidding.MaxMessageSize, bidding.KindStatus, bidding.KindReceipt, bidding.KindDecline)
		if err != nil {
			return errors.Is(err, io.EOF) && !isReset(err)
		}
		if msg.Signer() != exec {
			return false
		}
		switch x := msg.(type) {
		case *bidding.Decline:
			return true
		case *bidding.Receipt:
			r.lateReceipt(x, raw, exec, award, ch)
			return true
		}
	}
}

// lateReceipt verifies a receipt of a superseded award as any receipt
// (its award, job, requester and executor, constraints.executors) and
// records it.
func (r *jobRun) lateReceipt(rc *bidding.Receipt, raw []byte, exec peer.ID, award bidding.AwardID, ch *chain) {
	m := r.m
	if rc.AwardID != award || rc.JobCID != r.id || rc.Requester != m.self || rc.Executor != exec || !m.eligible(r.spec, rc.Executor) {
		m.log.Debug("late receipt refused", "job", r.id, "award", award, "executor", exec)
		return
	}
	rcid := bidding.ReceiptCID(raw)
	if b, err := blocks.NewBlockWithCid(raw, rcid); err == nil {
		_ = m.cfg.Content.PutBlock(context.Background(), b)
	}
	info := receiptInfo(rc, rcid.String())
	if rc.ErrorCode != "" && (bidding.Retryable(rc.ErrorCode) || rc.ErrorCode == bidding.CodeCancelled) {
		// What the award would not have settled with (a retryable
		// failure), or the outcome of this requester's own Cancel.
		r.record(info, nil, true)
		return
	}
	r.record(info, ch, true)
}
