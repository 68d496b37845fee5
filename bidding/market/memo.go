package market

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Memoization (docs/protocol.md §9): an executor publishes the record of
// each completed run of a reusable job under its job ID; a requester looks
// the job ID up before it announces and, when a trusted receipt that
// succeeded is found, completes the job without an execution.

// Memo is where receipt records live: the DHT, under
// bidding.ReceiptRecordKey, with bidding.ReceiptRecordValidator (node
// wires it). A nil Memo publishes nothing and looks nothing up.
type Memo interface {
	// Network is this node's bidding.NetworkID.
	Network() []byte
	// PutRecord stores a receipt record under its job's key and provides
	// the receipt block (its CID).
	PutRecord(ctx context.Context, job cid.Cid, record []byte, receipt cid.Cid) error
	// GetRecord returns the first record found under job's key that
	// enough accepts (nil accepts any), or else the best (the validator's
	// pick) of those found when the search ends or ctx expires; an error
	// when none was found.
	GetRecord(ctx context.Context, job cid.Cid, enough func(record []byte) bool) ([]byte, error)
}

// SealedMemo is a Memo whose store validates records it is handed (the
// DHT's validator): the records an executor seals are added to Sealed, so
// that the validator skips verifying this node's own signatures.
type SealedMemo interface {
	Memo
	Sealed() *bidding.SealedRecords
}

// ReceiptTrust is the part of Trust a receipt to reuse is judged by.
type ReceiptTrust interface {
	// ReceiptOrgs lists the trusted orgs p is an executor member of, by
	// the certificates it presented before or by certs (checked, not
	// remembered: a record's certificates change nothing this node knows
	// of p).
	ReceiptOrgs(p peer.ID, certs [][]byte) []string
}

// Defaults of the memo.
const (
	// memoCacheSize bounds the receipt records a node keeps in memory:
	// those it published as executor and those it reused as requester.
	memoCacheSize = 1024
	// memoPublishTimeout bounds an executor's publication of a record.
	memoPublishTimeout = 30 * time.Second
	// memoMaxPublishing bounds the records an executor publishes at once;
	// past it a record is kept in the memo cache only and the drop counted
	// (a slow DHT must not grow a goroutine per finished job).
	memoMaxPublishing = 16
)

// reusableResult reports whether a run of spec may be published and reused:
// a deterministic batch job of one executor whose reuse is not never,
// whose inputs are all CIDs (a URL or S3 object may change under the same
// job ID) and that publishes nowhere (a reused receipt uploads nothing).
// and that names no secrets (its result may depend on values only its
// requester gave). It is the one place that says so.
func reusableResult(spec *jobspec.Spec) bool {
	return spec.Deterministic() && spec.Reuse != jobspec.ReuseNever &&
		spec.Type == jobspec.Batch && spec.Count == 1 &&
		len(spec.RemoteInputs()) == 0 && len(spec.Publish) == 0 &&
		spec.ReusableAcrossRequesters()
}

// memoCache keeps receipt records by job, up to memoCacheSize (then the
// oldest entry goes). It is safe for concurrent use.
type memoCache struct {
	mu    sync.Mutex
	recs  map[cid.Cid][]byte
	order []cid.Cid
}

func (c *memoCache) put(job cid.Cid, rec []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recs == nil {
		c.recs = map[cid.Cid][]byte{}
	}
	if _, ok := c.recs[job]; !ok {
		c.order = append(c.order, job)
	}
	c.recs[job] = rec
	for len(c.order) > memoCacheSize {
		delete(c.recs, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *memoCache) get(job cid.Cid) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recs[job]
}

// publishRecord is the executor's side: the record of a completed run of
// a reusable job goes to the cache at once and to the network in the
// background (the requester already has its receipt).
// rc is what this executor sealed into block.
func (ex *executor) publishRecord(e *execution, state bidding.AwardState, block []byte, rc *bidding.Receipt) {
	if state != bidding.AwardCompleted || !reusableResult(e.spec) {
		return
	}
	if ex.cfg.Memo == nil {
		ex.log.Info("receipt record not published: memoization is off on this node (jobs.disable_memo)", "job", e.award.JobCID, "award", e.rec.ID)
		return
	}
	job := e.award.JobCID
	took := rc.FinishedAt.Sub(rc.StartedAt)
	short := took < ex.cfg.MemoMinRun
	notPublished := func() {
		n := ex.memoShort.Add(1)
		ex.log.Debug("receipt record not published: the run is shorter than jobs.memo_min_run", "job", job, "took", took, "memo_min_run", ex.cfg.MemoMinRun, "short_total", n)
	}
	if short && !rc.Succeeded() {
		notPublished() // neither cached nor published: nothing to seal
		return
	}
	var sealed *bidding.SealedRecords
	if sm, ok := ex.cfg.Memo.(SealedMemo); ok {
		sealed = sm.Sealed()
	}
	rec, err := bidding.SealOwnReceiptRecord(ex.cfg.Key, block, rc, ex.cfg.Memo.Network(), ex.certs(), time.Now(), sealed)
	if err != nil {
		ex.log.Warn("cannot seal receipt record", "award", e.rec.ID, "err", err)
		return
	}
	if rc.Succeeded() {
		ex.memo.put(job, rec) // a failure is published, never kept to be reused
	}
	if short {
		notPublished()
		return
	}
	select {
	case ex.publishing <- struct{}{}:
	default:
		n := ex.memoDrops.Add(1)
		ex.log.Info("receipt record not published: too many publications in flight", "job", job, "limit", cap(ex.publishing), "dropped_total", n)
		return
	}
	ex.wg.Go(func() {
		defer func() { <-ex.publishing }()
		ctx, cancel := context.WithTimeout(ex.ctx, memoPublishTimeout)
		defer cancel()
		if err := ex.cfg.Memo.PutRecord(ctx, job, rec, bidding.ReceiptCID(block)); err != nil {
			ex.log.Info("receipt record not published", "job", job, "err", err)
			return
		}
		ex.log.Info("receipt record published", "job", job, "receipt", bidding.ReceiptCID(block))
	})
}

// errNoReuse: why a job does not look a receipt up.
var errNoReuse = errors.New("reuse is off")

// lookupMemo is the requester's side of ActLookup: the local cache first,
// then the network, bounded by bidding.MemoLookupTimeout; a record found
// is checked again (signatures, job, network), then judged by policy.
func (d *jobDriver) lookupMemo() (*bidding.MemoHit, []*ReceiptInfo, string) {
	m := d.m
	if m.cfg.Memo == nil {
		return nil, nil, errNoReuse.Error()
	}
	ctx, cancel := context.WithTimeout(d.ctx, bidding.MemoLookupTimeout)
	defer cancel()
	key, net, verify := bidding.ReceiptRecordKey(d.id), m.cfg.Memo.Network(), d.spec.Verify != nil
	// usable: a record this job can reuse, so the search ends on it. A
	// verified job wants a verified set: one executor's receipt, found
	// first (this node's own replica's record in its cache, or the first
	// DHT answer), must not end the search before the set is found.
	// open remembers the last record it checked: the one the search ends
	// on is then not verified a second time.
	var last struct {
		b   []byte
		r   *bidding.ReceiptRecord
		err error
	}
	open := func(b []byte) (*bidding.ReceiptRecord, error) {
		if last.b == nil || !bytes.Equal(last.b, b) {
			last.r, last.err = bidding.OpenReceiptRecord(b, key, net)
			last.b = b
		}
		return last.r, last.err
	}
	usable := func(b []byte) bool {
		r, err := open(b)
		return err == nil && r.Receipt().Succeeded() && (r.Set() || !verify)
	}
	rec, from := m.exec.memo.get(d.id), "this node"
	if rec != nil && !usable(rec) {
		rec = nil
	}
	if rec == nil {
		var err error
		if rec, err = m.cfg.Memo.GetRecord(ctx, d.id, usable); err != nil {
			if ctx.Err() != nil && d.ctx.Err() == nil {
				return nil, nil, fmt.Sprintf("no record within %s", bidding.MemoLookupTimeout)
			}
			return nil, nil, "no record found"
		}
		from = "the network"
	}
	r, err := open(rec)
	if err != nil {
		return nil, nil, fmt.Sprintf("record from %s refused: %v", from, err)
	}
	if verify && !r.Set() {
		// The machine says why one executor's receipt is not enough.
		return d.hitOf(r, allReceipts(r), nil), nil, ""
	}
	var (
		use  []int // the receipts of r reused
		orgs []string
	)
	if !verify {
		// One trusted executor's receipt: the record's, or of a verified
		// set the first whose executor this node trusts (its word is
		// then as good as its own record).
		why := ""
		for i, rc := range r.All() {
			var certs [][]byte
			if rc.Executor == r.By {
				certs = r.Certs
			}
			o, w := m.trustReceipt(d.spec, rc.Executor, certs)
			if w == "" {
				use, orgs, why = []int{i}, o, ""
				break
			}
			if why == "" {
				why = w
			}
		}
		if use == nil {
			return nil, nil, why
		}
	} else {
		// A verified set is trusted by its quorum (the machine checks it
		// against the spec's), within constraints.executors; the receipts
		// of executors this node's policy refuses do not count.
		for i, rc := range r.All() {
			if !m.eligible(d.spec, rc.Executor) {
				return nil, nil, fmt.Sprintf("the verified set's executor %s is outside constraints.executors", bidding.ShortPeer(rc.Executor))
			}
			if rc.Executor != m.self && m.cfg.Executors.refuse(m.rep.Get(rc.Executor), time.Now()) != "" {
				continue
			}
			use = append(use, i)
		}
		if use == nil {
			return nil, nil, "this node's executor policy refuses every executor of the verified set"
		}
	}
	var infos []*ReceiptInfo
	for _, i := range use {
		rc, block := r.All()[i], r.Receipts[i]
		rcid := bidding.ReceiptCID(block)
		if b, err := newBlock(block, rcid); err == nil && rc.Executor != m.self {
			_ = m.cfg.Content.PutBlock(context.Background(), b)
		}
		info := receiptInfo(rc, rcid.String())
		info.Reused = true
		infos = append(infos, &info)
	}
	if r.Receipt().Succeeded() {
		m.exec.memo.put(d.id, rec)
	}
	hit := d.hitOf(r, use, infos)
	hit.Orgs = orgs
	return hit, infos, ""
}

// allReceipts are the indexes of every receipt of r.
func allReceipts(r *bidding.ReceiptRecord) []int {
	out := make([]int, len(r.All()))
	for i := range out {
		out[i] = i
	}
	return out
}

// hitOf is the machine's view of the receipts use of an opened record
// (infos: their records, or nil to make them): a verified set for a
// verified job, else one receipt.
func (d *jobDriver) hitOf(r *bidding.ReceiptRecord, use []int, infos []*ReceiptInfo) *bidding.MemoHit {
	var outs []bidding.ReceiptOutcome
	for k, i := range use {
		var info ReceiptInfo
		if infos != nil {
			info = *infos[k]
		} else {
			info = receiptInfo(r.All()[i], bidding.ReceiptCID(r.Receipts[i]).String())
		}
		outs = append(outs, receiptOutcome(info))
	}
	if len(outs) == 0 {
		return nil
	}
	h := &bidding.MemoHit{Receipt: outs[0], Finished: r.All()[use[0]].FinishedAt}
	if d.spec.Verify != nil && r.Set() {
		h.Set = outs
	}
	return h
}

// publishSet is the requester's side of a verified job: the set of its
// agreeing receipts goes to the memo cache and to the network
// (docs/protocol.md §10), when the job is reusable.
func (d *jobDriver) publishSet(v *bidding.Verdict) {
	m := d.m
	agree := v.Agreeing()
	if m.cfg.Memo == nil || !reusableResult(d.spec) || len(agree) < 2 || agree[0].Code != "" || agree[0].ExitCode != 0 {
		return
	}
	agree = agree[:min(len(agree), bidding.MaxRecordReceipts)]
	m.wg.Go(func() {
		ctx, cancel := context.WithTimeout(m.ctx, memoPublishTimeout)
		defer cancel()
		var blocks [][]byte
		for _, r := range agree {
			c, err := cid.Decode(r.CID)
			if err != nil {
				return
			}
			b, err := m.cfg.Content.GetBlock(ctx, c, nil)
			if err != nil {
				m.log.Info("verified set not published: receipt block missing", "job", d.id, "receipt", c, "err", err)
				return
			}
			blocks = append(blocks, b.RawData())
		}
		rec, err := bidding.SealVerifiedSet(m.cfg.Key, blocks, m.cfg.Memo.Network(), m.certs(), time.Now())
		if err != nil {
			m.log.Warn("cannot seal verified set", "job", d.id, "err", err)
			return
		}
		m.exec.memo.put(d.id, rec)
		if err := m.cfg.Memo.PutRecord(ctx, d.id, rec, bidding.ReceiptCID(blocks[0])); err != nil {
			m.log.Info("verified set not published", "job", d.id, "err", err)
			return
		}
		m.log.Info("verified set published", "job", d.id, "receipts", len(blocks))
	})
}

// trustReceipt is the policy of reuse (docs/security.md): a receipt of
// this node's own executor, or of an executor that proves membership of
// an org this node trusts, that this node's executor policy does not
// refuse and that no verified job of this node ever outvoted; and within
// the spec's constraints.executors.
// It returns the orgs, or why the receipt is not trusted.
func (m *Market) trustReceipt(spec *jobspec.Spec, exec peer.ID, certs [][]byte) ([]string, string) {
	if !m.eligible(spec, exec) {
		return nil, fmt.Sprintf("the receipt's executor %s is outside constraints.executors", bidding.ShortPeer(exec))
	}
	if exec == m.self {
		return nil, ""
	}
	rep := m.rep.Get(exec)
	if why := m.cfg.Executors.refuse(rep, time.Now()); why != "" {
		return nil, fmt.Sprintf("the receipt's executor %s is refused: %s", bidding.ShortPeer(exec), why)
	}
	if rep.Disagreements > 0 {
		// A run is cheaper than trusting an executor this node saw lie.
		return nil, fmt.Sprintf("the receipt's executor %s was outvoted by a verified job of this node (%d time(s)): its word alone is not reused",
			bidding.ShortPeer(exec), rep.Disagreements)
	}
	rt, ok := m.cfg.Trust.(ReceiptTrust)
	if !ok {
		return nil, fmt.Sprintf("the receipt's executor %s is not trusted: this node trusts no org", bidding.ShortPeer(exec))
	}
	orgs := rt.ReceiptOrgs(exec, certs)
	if len(orgs) == 0 {
		return nil, fmt.Sprintf("the receipt's executor %s is a member of no org this node trusts", bidding.ShortPeer(exec))
	}
	return orgs, ""
}
