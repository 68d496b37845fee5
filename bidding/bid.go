package bidding

import (
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Bid offers to run a job. Sent by a bidder on ProtocolBid, in answer to an
// Announce written on the stream or after hearing one by gossip. Signed by
// Bidder. At most MaxMessageSize bytes.
type Bid struct {
	Version int
	JobCID  cid.Cid
	Bidder  peer.ID
	// LocalBytes is how many bytes of the job's inputs the bidder already
	// holds (the module or image is not counted); TotalBytes is their total
	// size as far as the bidder can tell (it cannot size content it holds
	// nothing of).
	// 0 <= LocalBytes <= TotalBytes.
	LocalBytes int64
	TotalBytes int64
	// FreeSlots is how many jobs the bidder could start now; QueueDepth how
	// many wait before this one would.
	FreeSlots  int
	QueueDepth int
	// EstStart is the bidder's estimate of how long until the job would
	// start (0 when a slot is free), fetching excluded.
	EstStart time.Duration
	// ReservationTTL is how long the bidder holds capacity for this bid.
	ReservationTTL time.Duration
	IssuedAt       time.Time
	// Certs are the bidder's org membership certificates (at most MaxCerts
	// of MaxCertSize bytes, opaque here), for constraints.executors.orgs.
	// Omitted when empty.
	Certs [][]byte
	Sig   []byte
}

// NewBid builds an unsigned bid from an admission offer.
func NewBid(job cid.Cid, bidder peer.ID, o Offer, now time.Time) *Bid {
	return &Bid{
		Version:        WireVersion,
		JobCID:         job,
		Bidder:         bidder,
		LocalBytes:     o.LocalBytes,
		TotalBytes:     o.TotalBytes,
		FreeSlots:      o.FreeSlots,
		QueueDepth:     o.QueueDepth,
		EstStart:       o.EstStart,
		ReservationTTL: o.ReservationTTL,
		IssuedAt:       now,
	}
}

// Kind implements Message.
func (b *Bid) Kind() Kind { return KindBid }

// Signer implements Message: the bidder.
func (b *Bid) Signer() peer.ID { return b.Bidder }

// Idle reports whether the bidder could start the job at once.
func (b *Bid) Idle() bool { return b.FreeSlots > 0 && b.QueueDepth == 0 }

func (b *Bid) fields() (*int, *[]byte) { return &b.Version, &b.Sig }
func (b *Bid) role() string            { return "bidder" }
func (b *Bid) limit() int              { return MaxMessageSize }

func (b *Bid) encode(m *dag.Map) {
	m.Link("job", b.JobCID)
	putPeer(m, "bidder", b.Bidder)
	m.Int("local", b.LocalBytes)
	m.Int("total", b.TotalBytes)
	m.Int("slots", int64(b.FreeSlots))
	m.Int("queue", int64(b.QueueDepth))
	putDur(m, "est_start_ms", b.EstStart)
	putDur(m, "reservation_ms", b.ReservationTTL)
	putTime(m, "issued", b.IssuedAt)
	m.BytesList("certs", b.Certs)
}

func (b *Bid) decode(r *dag.Reader) {
	b.JobCID = r.Link("job")
	b.Bidder = getPeer(r, "bidder")
	b.LocalBytes = r.Int("local")
	b.TotalBytes = r.Int("total")
	b.FreeSlots = getInt(r, "slots")
	b.QueueDepth = getInt(r, "queue")
	b.EstStart = getDur(r, "est_start_ms")
	b.ReservationTTL = getDur(r, "reservation_ms")
	b.IssuedAt = getTime(r, "issued")
	b.Certs = getCerts(r, "certs")
}

func (b *Bid) check(c *checker) {
	c.jobCID("job", b.JobCID)
	c.peer("bidder", b.Bidder)
	if b.LocalBytes < 0 || b.TotalBytes < b.LocalBytes {
		c.failf("local", "need 0 <= local (%d) <= total (%d)", b.LocalBytes, b.TotalBytes)
	}
	if b.FreeSlots < 0 || b.FreeSlots > MaxQueueReport {
		c.failf("slots", "%d out of range", b.FreeSlots)
	}
	if b.QueueDepth < 0 || b.QueueDepth > MaxQueueReport {
		c.failf("queue", "%d out of range", b.QueueDepth)
	}
	c.dur("est_start_ms", b.EstStart, MaxEstStart)
	c.dur("reservation_ms", b.ReservationTTL, MaxReservation)
	c.time("issued", b.IssuedAt)
	c.certs("certs", b.Certs)
}

// Decline refuses a job (answer to an Announce on ProtocolBid) or an award
// (answer to an Award on ProtocolAward, with AwardID set), or answers a
// Query for an unknown award. Signed by Bidder (the executor, for awards).
// At most MaxMessageSize bytes.
type Decline struct {
	Version int
	JobCID  cid.Cid
	// AwardID is set when an award or a query is declined.
	AwardID AwardID
	Bidder  peer.ID
	// Code is stable (see the Code constants); Reason is for humans, at
	// most MaxReasonLen bytes.
	Code     Code
	Reason   string
	IssuedAt time.Time
	Sig      []byte
}

// NewDecline builds an unsigned decline from a refusal, its reason cut to
// MaxReasonLen by TruncateText.
func NewDecline(job cid.Cid, award AwardID, bidder peer.ID, r *Refusal, now time.Time) *Decline {
	reason := TruncateText(r.Reason, MaxReasonLen)
	return &Decline{Version: WireVersion, JobCID: job, AwardID: award, Bidder: bidder, Code: r.Code, Reason: reason, IssuedAt: now}
}

// Refusal returns the decline as an error value.
func (d *Decline) Refusal() *Refusal { return &Refusal{Code: d.Code, Reason: d.Reason} }

// Kind implements Message.
func (d *Decline) Kind() Kind { return KindDecline }

// Signer implements Message: the bidder or executor.
func (d *Decline) Signer() peer.ID { return d.Bidder }

func (d *Decline) fields() (*int, *[]byte) { return &d.Version, &d.Sig }
func (d *Decline) role() string            { return "bidder" }
func (d *Decline) limit() int              { return MaxMessageSize }

func (d *Decline) encode(m *dag.Map) {
	m.Link("job", d.JobCID)
	putAwardID(m, "award", d.AwardID)
	putPeer(m, "bidder", d.Bidder)
	m.Str("code", string(d.Code))
	m.Str("reason", d.Reason)
	putTime(m, "issued", d.IssuedAt)
}

func (d *Decline) decode(r *dag.Reader) {
	d.JobCID = r.Link("job")
	d.AwardID = getAwardID(r, "award")
	d.Bidder = getPeer(r, "bidder")
	d.Code = Code(r.Str("code"))
	d.Reason = r.Str("reason")
	d.IssuedAt = getTime(r, "issued")
}

func (d *Decline) check(c *checker) {
	c.jobCID("job", d.JobCID)
	c.peer("bidder", d.Bidder)
	if !d.Code.Valid() {
		c.failf("code", "%q: 1 to 32 of a-z, 0-9, _", d.Code)
	}
	c.text("reason", d.Reason, MaxReasonLen)
	c.time("issued", d.IssuedAt)
}
