package bidding

import (
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/bidding/internal/dag"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Announce tells nodes that a job wants an executor. The requester
// publishes it on AnnounceTopic and writes it directly on ProtocolBid to the
// providers of the job's inputs. Signed by Requester. At most
// MaxAnnounceSize bytes.
type Announce struct {
	Version int
	// JobCID is the job ID: the CID of the spec block.
	JobCID cid.Cid
	// Spec is the spec block when it is at most MaxInlineSpec bytes; nil
	// otherwise, and bidders fetch the block by JobCID.
	Spec []byte
	// Requester is the peer that submitted the job and collects bids.
	Requester peer.ID
	// Addrs are the requester's addresses: a dial hint for bidders and a
	// provider hint for the inputs it holds. At most MaxAddrs.
	Addrs []ma.Multiaddr
	// Attempt counts announcements of this job by this requester, from 1.
	Attempt int
	// IssuedAt is when the requester made this announcement.
	IssuedAt time.Time
	// Certs are the requester's org membership certificates (at most
	// MaxCerts of MaxCertSize bytes, opaque here), so bidders can apply an
	// allow-list of orgs. Omitted when empty: an announce without certs
	// encodes exactly as before the field existed.
	Certs [][]byte
	Sig   []byte

	spec *jobspec.Spec // decoded Spec, set by check
}

// NewAnnounce builds the announcement of a spec, inlining the spec block
// when it fits. It returns the announcement unsigned; Seal it.
func NewAnnounce(spec *jobspec.Spec, requester peer.ID, addrs []ma.Multiaddr, attempt int, now time.Time) (*Announce, error) {
	block, id, err := jobspec.Encode(spec)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	a := &Announce{Version: WireVersion, JobCID: id, Requester: requester, Addrs: addrs, Attempt: attempt, IssuedAt: now}
	if len(block) <= MaxInlineSpec {
		a.Spec = block
	}
	return a, nil
}

// Kind implements Message.
func (a *Announce) Kind() Kind { return KindAnnounce }

// Signer implements Message: the requester.
func (a *Announce) Signer() peer.ID { return a.Requester }

// JobSpec returns the inline spec, decoded and validated. Without an inline
// spec it returns ErrSpecNotInline; fetch the block by JobCID and use
// jobspec.Decode after checking its CID.
func (a *Announce) JobSpec() (*jobspec.Spec, error) {
	if a.spec != nil {
		return a.spec, nil
	}
	return inlineSpec(a.Spec, a.JobCID)
}

func inlineSpec(block []byte, job cid.Cid) (*jobspec.Spec, error) {
	if len(block) == 0 {
		return nil, ErrSpecNotInline
	}
	if len(block) > MaxInlineSpec {
		return nil, fmt.Errorf("%w: inline spec of %d bytes, limit %d", ErrTooLarge, len(block), MaxInlineSpec)
	}
	if dag.CID(block) != job {
		return nil, fmt.Errorf("%w: block hashes to %s, job is %s", ErrSpecMismatch, dag.CID(block), job)
	}
	s, err := jobspec.Decode(block)
	if err != nil {
		return nil, fmt.Errorf("inline spec: %w", err)
	}
	return s, nil
}

func (a *Announce) fields() (*int, *[]byte) { return &a.Version, &a.Sig }
func (a *Announce) role() string            { return "requester" }
func (a *Announce) limit() int              { return MaxAnnounceSize }

func (a *Announce) encode(m *dag.Map) {
	m.Link("job", a.JobCID)
	m.Bytes("spec", a.Spec)
	putPeer(m, "requester", a.Requester)
	putAddrs(m, "addrs", a.Addrs)
	m.Int("attempt", int64(a.Attempt))
	putTime(m, "issued", a.IssuedAt)
	m.BytesList("certs", a.Certs)
}

func (a *Announce) decode(r *dag.Reader) {
	a.JobCID = r.Link("job")
	a.Spec = r.Bytes("spec")
	a.Requester = getPeer(r, "requester")
	a.Addrs = getAddrs(r, "addrs")
	a.Attempt = getInt(r, "attempt")
	a.IssuedAt = getTime(r, "issued")
	a.Certs = getCerts(r, "certs")
}

func (a *Announce) check(c *checker) {
	c.jobCID("job", a.JobCID)
	c.peer("requester", a.Requester)
	c.addrs("addrs", a.Addrs)
	if a.Attempt < 1 || a.Attempt > MaxAttempt {
		c.failf("attempt", "%d out of range [1, %d]", a.Attempt, MaxAttempt)
	}
	c.time("issued", a.IssuedAt)
	c.certs("certs", a.Certs)
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
