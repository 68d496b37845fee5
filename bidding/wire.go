package bidding

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multihash"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Helpers shared by the message types: the wire form of peer IDs, times,
// durations, award IDs and addresses, and the checks common to all.

func putPeer(m *dag.Map, key string, p peer.ID) { m.Bytes(key, []byte(p)) }

func getPeer(r *dag.Reader, key string) peer.ID {
	b := r.Bytes(key)
	if b == nil {
		return ""
	}
	id, err := peer.IDFromBytes(b)
	if err != nil {
		r.Fail(key, fmt.Errorf("peer ID: %w", err))
		return ""
	}
	return id
}

// Times travel as Unix milliseconds; the zero time is omitted.
func putTime(m *dag.Map, key string, t time.Time) {
	if !t.IsZero() {
		m.IntAlways(key, t.UnixMilli())
	}
}

func getTime(r *dag.Reader, key string) time.Time {
	if !r.Has(key) {
		r.Int(key) // mark as read
		return time.Time{}
	}
	return time.UnixMilli(r.Int(key)).UTC()
}

// Durations travel as milliseconds.
func putDur(m *dag.Map, key string, d time.Duration) { m.Int(key, d.Milliseconds()) }

func getDur(r *dag.Reader, key string) time.Duration {
	ms := r.Int(key)
	if ms < 0 || ms > math.MaxInt64/int64(time.Millisecond) {
		r.Fail(key, fmt.Errorf("duration of %d ms out of range", ms))
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

func putAwardID(m *dag.Map, key string, id AwardID) {
	if !id.IsZero() {
		m.Bytes(key, id[:])
	}
}

func getAwardID(r *dag.Reader, key string) AwardID {
	var id AwardID
	b := r.Bytes(key)
	if b == nil {
		return id
	}
	if len(b) != len(id) {
		r.Fail(key, fmt.Errorf("award ID of %d bytes, want %d", len(b), len(id)))
		return id
	}
	copy(id[:], b)
	return id
}

func putAddrs(m *dag.Map, key string, addrs []ma.Multiaddr) {
	bs := make([][]byte, len(addrs))
	for i, a := range addrs {
		bs[i] = a.Bytes()
	}
	m.BytesList(key, bs)
}

func getAddrs(r *dag.Reader, key string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for i, b := range r.BytesList(key, MaxAddrs) {
		if len(b) > MaxAddrLen {
			r.FailPath(dag.Index(dag.Join(r.Path(), key), i), fmt.Errorf("multiaddr of %d bytes, limit %d", len(b), MaxAddrLen))
			return nil
		}
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			r.FailPath(dag.Index(dag.Join(r.Path(), key), i), fmt.Errorf("multiaddr: %w", err))
			return nil
		}
		out = append(out, a)
	}
	return out
}

func getInt(r *dag.Reader, key string) int {
	v := r.Int(key)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.Fail(key, fmt.Errorf("%d out of range", v))
		return 0
	}
	return int(v)
}

// checker accumulates the first semantic error of a message.
type checker struct{ err error }

func (c *checker) failf(field, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
}

func (c *checker) peer(field string, p peer.ID) {
	if p == "" {
		c.failf(field, "required")
		return
	}
	if _, err := peer.IDFromBytes([]byte(p)); err != nil {
		c.failf(field, "invalid peer ID: %v", err)
	}
}

func (c *checker) jobCID(field string, id cid.Cid) {
	switch {
	case !id.Defined():
		c.failf(field, "required")
	default:
		p := id.Prefix()
		if p.Version != 1 || p.Codec != cid.DagCBOR || p.MhType != multihash.SHA2_256 || p.MhLength != 32 {
			c.failf(field, "%s is not a job ID (CIDv1, dag-cbor, sha2-256)", id)
		}
	}
}

func (c *checker) cid(field string, id cid.Cid) {
	if id.Defined() && id.ByteLen() > 128 {
		c.failf(field, "CID of %d bytes, limit 128", id.ByteLen())
	}
}

func (c *checker) time(field string, t time.Time) {
	if t.IsZero() || t.UnixMilli() <= 0 {
		c.failf(field, "required")
	}
}

func (c *checker) awardID(field string, id AwardID) {
	if id.IsZero() {
		c.failf(field, "required")
	}
}

func (c *checker) text(field, s string, max int) {
	if len(s) > max || !utf8.ValidString(s) {
		c.failf(field, "at most %d bytes of UTF-8", max)
	}
}

func (c *checker) dur(field string, d, max time.Duration) {
	if d < 0 || d > max {
		c.failf(field, "%s out of range [0, %s]", d, max)
	}
}

func (c *checker) addrs(field string, addrs []ma.Multiaddr) {
	if len(addrs) > MaxAddrs {
		c.failf(field, "%d addresses, limit %d", len(addrs), MaxAddrs)
	}
	for _, a := range addrs {
		if a == nil || len(a.Bytes()) == 0 || len(a.Bytes()) > MaxAddrLen {
			c.failf(field, "empty or oversized multiaddr")
		}
	}
}

func (c *checker) version(v int) {
	if v != WireVersion && c.err == nil {
		c.err = fmt.Errorf("%w: %d, this build speaks %d", ErrVersion, v, WireVersion)
	}
}
