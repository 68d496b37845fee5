package bidding

import (
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
	"github.com/shoalnet/shoal/bidding/internal/secrets"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Award gives a job to one executor. Written by the requester on
// ProtocolAward; answered by Accept or Decline. Signed by Requester. At most
// MaxMessageSize bytes, or MaxAnnounceSize when it carries the spec.
type Award struct {
	Version   int
	AwardID   AwardID
	JobCID    cid.Cid
	Requester peer.ID
	Executor  peer.ID
	// Spec is the spec block when it fits MaxInlineSpec; nil otherwise.
	Spec []byte
	// Providers are peers known to hold the job's content, with addresses:
	// a hint so the executor need not wait for the DHT. At most
	// MaxProviders, each with at most MaxAddrs addresses.
	Providers []peer.AddrInfo
	// Attempt counts awards of this job by this requester, from 1.
	Attempt int
	// IssuedAt and Expires bound when the executor may accept the award;
	// Expires - IssuedAt is at most MaxAwardTTL.
	IssuedAt time.Time
	Expires  time.Time
	// Secrets holds the values of the spec's secrets, sealed to Executor
	// and bound to this award (package bidding/internal/secrets); nil when the job
	// has none. Only the executor can open it.
	Secrets []byte
	Sig     []byte

	spec *jobspec.Spec
}

// MaxAwardSize bounds an award on the wire: one carrying a spec and
// sealed secrets.
const MaxAwardSize = MaxAnnounceSize + secrets.MaxSealed

// NewAward builds an unsigned award with a fresh AwardID that expires
// DefaultAwardTTL after now. block is the spec block (inlined when it fits;
// may be nil).
func NewAward(job cid.Cid, block []byte, requester, executor peer.ID, providers []peer.AddrInfo, attempt int, now time.Time) *Award {
	a := &Award{
		Version:   WireVersion,
		AwardID:   NewAwardID(),
		JobCID:    job,
		Requester: requester,
		Executor:  executor,
		Providers: providers,
		Attempt:   attempt,
		IssuedAt:  now,
		Expires:   now.Add(DefaultAwardTTL),
	}
	if len(block) <= MaxInlineSpec {
		a.Spec = block
	}
	return a
}

// Kind implements Message.
func (a *Award) Kind() Kind { return KindAward }

// Signer implements Message: the requester.
func (a *Award) Signer() peer.ID { return a.Requester }

// JobSpec returns the inline spec, decoded and checked against JobCID, or
// ErrSpecNotInline.
func (a *Award) JobSpec() (*jobspec.Spec, error) {
	if a.spec != nil {
		return a.spec, nil
	}
	return inlineSpec(a.Spec, a.JobCID)
}

func (a *Award) fields() (*int, *[]byte) { return &a.Version, &a.Sig }
func (a *Award) role() string            { return "requester" }

func (a *Award) limit() int {
	n := MaxMessageSize
	if len(a.Spec) > 0 {
		n = MaxAnnounceSize
	}
	if len(a.Secrets) > 0 {
		n += secrets.MaxSealed
	}
	return n
}

func (a *Award) encode(m *dag.Map) {
	putAwardID(m, "award", a.AwardID)
	m.Link("job", a.JobCID)
	putPeer(m, "requester", a.Requester)
	putPeer(m, "executor", a.Executor)
	m.Bytes("spec", a.Spec)
	provs := make([]*dag.Map, len(a.Providers))
	for i, p := range a.Providers {
		pm := dag.NewMap()
		putPeer(pm, "id", p.ID)
		putAddrs(pm, "addrs", p.Addrs)
		provs[i] = pm
	}
	m.Maps("providers", provs)
	m.Int("attempt", int64(a.Attempt))
	putTime(m, "issued", a.IssuedAt)
	putTime(m, "expires", a.Expires)
	m.Bytes("secrets", a.Secrets)
}

func (a *Award) decode(r *dag.Reader) {
	a.AwardID = getAwardID(r, "award")
	a.JobCID = r.Link("job")
	a.Requester = getPeer(r, "requester")
	a.Executor = getPeer(r, "executor")
	a.Spec = r.Bytes("spec")
	r.List("providers", MaxProviders, func(path string, item datamodel.Node) {
		pr := r.Sub(path, item)
		a.Providers = append(a.Providers, peer.AddrInfo{ID: getPeer(pr, "id"), Addrs: getAddrs(pr, "addrs")})
		pr.Done()
	})
	a.Attempt = getInt(r, "attempt")
	a.IssuedAt = getTime(r, "issued")
	a.Expires = getTime(r, "expires")
	a.Secrets = r.Bytes("secrets")
}

func (a *Award) check(c *checker) {
	c.awardID("award", a.AwardID)
	c.jobCID("job", a.JobCID)
	c.peer("requester", a.Requester)
	c.peer("executor", a.Executor)
	if len(a.Providers) > MaxProviders {
		c.failf("providers", "%d providers, limit %d", len(a.Providers), MaxProviders)
	}
	for i, p := range a.Providers {
		c.peer(fmt.Sprintf("providers[%d].id", i), p.ID)
		c.addrs(fmt.Sprintf("providers[%d].addrs", i), p.Addrs)
	}
	if a.Attempt < 1 || a.Attempt > MaxAttempt {
		c.failf("attempt", "%d out of range [1, %d]", a.Attempt, MaxAttempt)
	}
	c.time("issued", a.IssuedAt)
	c.time("expires", a.Expires)
	if ttl := a.Expires.Sub(a.IssuedAt); ttl <= 0 || ttl > MaxAwardTTL {
		c.failf("expires", "must be after issued by at most %s, is %s", MaxAwardTTL, ttl)
	}
	if len(a.Secrets) > secrets.MaxSealed {
		c.failf("secrets", "%d bytes, limit %d", len(a.Secrets), secrets.MaxSealed)
	}
	if c.err != nil || len(a.Spec) == 0 {
		return
	}
	s, err := inlineSpec(a.Spec, a.JobCID)
	if err != nil {
		if errors.Is(err, ErrSpecMismatch) || errors.Is(err, ErrTooLarge) {
			c.err = fmt.Errorf("%w: spec: %w", ErrInvalid, err)
		} else {
			c.failf("spec", "%v", err)
		}
		return
	}
	a.spec = s
}

// Accept confirms an award: the executor has taken the job. Written by the
// executor on ProtocolAward. Signed by Executor. At most MaxMessageSize.
type Accept struct {
	Version  int
	AwardID  AwardID
	JobCID   cid.Cid
	Executor peer.ID
	IssuedAt time.Time
	Sig      []byte
}

// NewAccept builds the unsigned acceptance of an award.
func NewAccept(a *Award, now time.Time) *Accept {
	return &Accept{Version: WireVersion, AwardID: a.AwardID, JobCID: a.JobCID, Executor: a.Executor, IssuedAt: now}
}

// Kind implements Message.
func (a *Accept) Kind() Kind { return KindAccept }

// Signer implements Message: the executor.
func (a *Accept) Signer() peer.ID { return a.Executor }

func (a *Accept) fields() (*int, *[]byte) { return &a.Version, &a.Sig }
func (a *Accept) role() string            { return "executor" }
func (a *Accept) limit() int              { return MaxMessageSize }

func (a *Accept) encode(m *dag.Map) {
	putAwardID(m, "award", a.AwardID)
	m.Link("job", a.JobCID)
	putPeer(m, "executor", a.Executor)
	putTime(m, "issued", a.IssuedAt)
}

func (a *Accept) decode(r *dag.Reader) {
	a.AwardID = getAwardID(r, "award")
	a.JobCID = r.Link("job")
	a.Executor = getPeer(r, "executor")
	a.IssuedAt = getTime(r, "issued")
}

func (a *Accept) check(c *checker) {
	c.awardID("award", a.AwardID)
	c.jobCID("job", a.JobCID)
	c.peer("executor", a.Executor)
	c.time("issued", a.IssuedAt)
}

// Cancel asks the executor to stop an award it accepted. Written by the
// requester on ProtocolAward (or on a fresh ProtocolReceipt stream after the
// award stream broke). Signed by Requester. At most MaxMessageSize.
type Cancel struct {
	Version   int
	AwardID   AwardID
	JobCID    cid.Cid
	Requester peer.ID
	Reason    string
	IssuedAt  time.Time
	Sig       []byte
}

// Kind implements Message.
func (x *Cancel) Kind() Kind { return KindCancel }

// Signer implements Message: the requester.
func (x *Cancel) Signer() peer.ID { return x.Requester }

func (x *Cancel) fields() (*int, *[]byte) { return &x.Version, &x.Sig }
func (x *Cancel) role() string            { return "requester" }
func (x *Cancel) limit() int              { return MaxMessageSize }

func (x *Cancel) encode(m *dag.Map) {
	putAwardID(m, "award", x.AwardID)
	m.Link("job", x.JobCID)
	putPeer(m, "requester", x.Requester)
	m.Str("reason", x.Reason)
	putTime(m, "issued", x.IssuedAt)
}

func (x *Cancel) decode(r *dag.Reader) {
	x.AwardID = getAwardID(r, "award")
	x.JobCID = r.Link("job")
	x.Requester = getPeer(r, "requester")
	x.Reason = r.Str("reason")
	x.IssuedAt = getTime(r, "issued")
}

func (x *Cancel) check(c *checker) {
	c.awardID("award", x.AwardID)
	c.jobCID("job", x.JobCID)
	c.peer("requester", x.Requester)
	c.text("reason", x.Reason, MaxReasonLen)
	c.time("issued", x.IssuedAt)
}

// Query asks an executor where an award stands, after a broken award stream
// or a restart. Written by the requester on ProtocolReceipt. Signed by
// Requester. At most MaxMessageSize.
type Query struct {
	Version   int
	AwardID   AwardID
	JobCID    cid.Cid
	Requester peer.ID
	IssuedAt  time.Time
	Sig       []byte
}

// Kind implements Message.
func (q *Query) Kind() Kind { return KindQuery }

// Signer implements Message: the requester.
func (q *Query) Signer() peer.ID { return q.Requester }

func (q *Query) fields() (*int, *[]byte) { return &q.Version, &q.Sig }
func (q *Query) role() string            { return "requester" }
func (q *Query) limit() int              { return MaxMessageSize }

func (q *Query) encode(m *dag.Map) {
	putAwardID(m, "award", q.AwardID)
	m.Link("job", q.JobCID)
	putPeer(m, "requester", q.Requester)
	putTime(m, "issued", q.IssuedAt)
}

func (q *Query) decode(r *dag.Reader) {
	q.AwardID = getAwardID(r, "award")
	q.JobCID = r.Link("job")
	q.Requester = getPeer(r, "requester")
	q.IssuedAt = getTime(r, "issued")
}

func (q *Query) check(c *checker) {
	c.awardID("award", q.AwardID)
	c.jobCID("job", q.JobCID)
	c.peer("requester", q.Requester)
	c.time("issued", q.IssuedAt)
}
