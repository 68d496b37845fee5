package bidding

import (
	"bytes"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Kind names a message type. It is the "type" field of every message and
// part of its signature domain.
type Kind string

// Message kinds.
const (
	KindAnnounce Kind = "announce"
	KindBid      Kind = "bid"
	KindDecline  Kind = "decline"
	KindAward    Kind = "award"
	KindAccept   Kind = "accept"
	KindStatus   Kind = "status"
	KindReceipt  Kind = "receipt"
	KindCancel   Kind = "cancel"
	KindQuery    Kind = "query"
	KindLog      Kind = "log"
	// KindReceiptRecord (memo.go) is not sent on a stream: it is the value
	// of a DHT record.
)

// Domain is the prefix signed before a message's bytes:
// "shoal/<kind>/v1" and a NUL byte. It keeps a signature made for one kind
// of message from being valid for another.
func (k Kind) Domain() string { return fmt.Sprintf("shoal/%s/v%d\x00", k, WireVersion) }

// maxSize is the largest encoding of a kind (awards may carry a spec).
func (k Kind) maxSize() int {
	if k == KindAnnounce || k == KindAward {
		return MaxAnnounceSize
	}
	if k == KindReceiptRecord {
		return MaxReceiptRecordSize
	}
	return MaxMessageSize
}

// Message is implemented by the ten protocol messages. Each is signed by
// the peer that sends it, named by Signer: the requester for announce,
// award, cancel and query; the bidder for bid and decline; the executor for
// accept, status, receipt and log.
type Message interface {
	Kind() Kind
	// Signer is the peer whose key must have signed the message.
	Signer() peer.ID
	// fields returns pointers to the message's Version and Sig.
	fields() (version *int, sig *[]byte)
	encode(m *dag.Map)
	decode(r *dag.Reader)
	check(c *checker)
	// role names the signer in errors ("bidder").
	role() string
	// limit is this message's size bound.
	limit() int
}

func newMessage(k Kind) Message {
	switch k {
	case KindAnnounce:
		return &Announce{}
	case KindBid:
		return &Bid{}
	case KindDecline:
		return &Decline{}
	case KindAward:
		return &Award{}
	case KindAccept:
		return &Accept{}
	case KindStatus:
		return &Status{}
	case KindReceipt:
		return &Receipt{}
	case KindCancel:
		return &Cancel{}
	case KindQuery:
		return &Query{}
	case KindLog:
		return &Log{}
	case KindReceiptRecord:
		return &ReceiptRecord{}
	}
	return nil
}

func toMap(m Message, withSig bool) *dag.Map {
	v, sig := m.fields()
	out := dag.NewMap()
	out.Str("type", string(m.Kind()))
	out.IntAlways("v", int64(*v))
	m.encode(out)
	if withSig {
		out.Bytes("sig", *sig)
	}
	return out
}

// SigningBytes returns what the signer signs: the kind's Domain followed by
// the canonical encoding of the message without its "sig" field.
func SigningBytes(m Message) ([]byte, error) {
	b, err := toMap(m, false).Encode()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Kind(), err)
	}
	return append([]byte(m.Kind().Domain()), b...), nil
}

// Marshal encodes m as it is, signature included, without signing or
// checking it. Seal is what senders use; Marshal serves tests and tools.
func Marshal(m Message) ([]byte, error) {
	b, err := toMap(m, true).Encode()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Kind(), err)
	}
	if len(b) > m.limit() {
		return nil, fmt.Errorf("%s: %w: %d bytes, limit %d", m.Kind(), ErrTooLarge, len(b), m.limit())
	}
	return b, nil
}

// Validate checks m's fields (without its signature).
func Validate(m Message) error {
	v, _ := m.fields()
	c := &checker{}
	c.version(*v)
	m.check(c)
	if c.err != nil {
		return fmt.Errorf("%s: %w", m.Kind(), c.err)
	}
	return nil
}

// Seal sets m's version (when 0), validates m, signs it with key and returns
// its encoding. key must be the private key of m.Signer().
func Seal(key crypto.PrivKey, m Message) ([]byte, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", m.Kind(), err)
	}
	if id != m.Signer() {
		return nil, fmt.Errorf("seal %s: %w: key of %s, %s is %s", m.Kind(), ErrSignerMismatch, id, m.role(), m.Signer())
	}
	v, sig := m.fields()
	if *v == 0 {
		*v = WireVersion
	}
	if err := Validate(m); err != nil {
		return nil, fmt.Errorf("seal %w", err)
	}
	unsigned, err := toMap(m, false).Encode()
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", m.Kind(), err)
	}
	s, err := key.Sign(append([]byte(m.Kind().Domain()), unsigned...))
	if err != nil {
		return nil, fmt.Errorf("seal %s: sign: %w", m.Kind(), err)
	}
	*sig = s
	// The sealed message is the unsigned encoding with "sig" spliced in:
	// what Marshal would write, without building and encoding it again.
	b, err := dag.SpliceIn(unsigned, "sig", dag.BytesItem(s))
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", m.Kind(), err)
	}
	if len(b) > m.limit() {
		return nil, fmt.Errorf("%s: %w: %d bytes, limit %d", m.Kind(), ErrTooLarge, len(b), m.limit())
	}
	return b, nil
}

// Verify checks m's signature against the public key embedded in
// m.Signer() (Ed25519 and secp256k1 peer IDs embed it; RSA ones do not
// and are refused with ErrNoPublicKey).
func Verify(m Message) error {
	payload, err := SigningBytes(m)
	if err != nil {
		return err
	}
	return verifyPayload(m, payload)
}

// verifyPayload is Verify with m's signing bytes at hand.
func verifyPayload(m Message, payload []byte) error {
	signer := m.Signer()
	pub, err := signer.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%s: %w: %s %s: %w", m.Kind(), ErrNoPublicKey, m.role(), signer, err)
	}
	_, sig := m.fields()
	ok, err := pub.Verify(payload, *sig)
	if err != nil || !ok {
		return fmt.Errorf("%s: %w: not signed by its %s %s", m.Kind(), ErrBadSignature, m.role(), signer)
	}
	return nil
}

// Open decodes, validates and verifies one message. kinds lists the types
// the caller accepts (all when empty); anything else is ErrUnexpectedKind.
// The size is checked before decoding; the encoding must be canonical (what
// Seal would write, byte for byte); the signature must be by the sender the
// message names. Callers on a stream must also check that the signer is the
// stream's remote peer, and callers of awards must pass them through Dedup.
func Open(data []byte, kinds ...Kind) (Message, error) {
	m, err := decodeChecked(data, kinds)
	if err != nil {
		return nil, err
	}
	// data is canonical (decodeChecked re-encoded it): its signing bytes
	// are data without "sig", spliced out rather than encoded again.
	unsigned, err := dag.SpliceOut(data, "sig")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w: %w", m.Kind(), ErrMalformed, err)
	}
	if err := verifyPayload(m, append([]byte(m.Kind().Domain()), unsigned...)); err != nil {
		return nil, fmt.Errorf("open %w", err)
	}
	return m, nil
}

// OpenOwn is Open for a message this process sealed itself and handed to
// itself (a node's award to itself, over an in-process pipe nobody else
// writes to): decoded, canonical and validated like any, and refused
// unless self signed it, but its signature is not checked again; an
// Ed25519 verification is most of what opening a message costs.
func OpenOwn(data []byte, self peer.ID, kinds ...Kind) (Message, error) {
	m, err := decodeChecked(data, kinds)
	if err != nil {
		return nil, err
	}
	if m.Signer() != self {
		return nil, fmt.Errorf("open %s: %w: signed by %s %s, not by this node %s", m.Kind(), ErrSignerMismatch, m.role(), m.Signer(), self)
	}
	return m, nil
}

// decodeChecked is Open without the signature check.
func decodeChecked(data []byte, kinds []Kind) (Message, error) {
	limit := MaxMessageSize
	if len(kinds) == 0 {
		limit = MaxAnnounceSize
	}
	for _, k := range kinds {
		limit = max(limit, k.maxSize())
	}
	if len(data) > limit {
		return nil, fmt.Errorf("open: %w: %d bytes, limit %d", ErrTooLarge, len(data), limit)
	}
	n, err := dag.Decode(data, limit)
	if err != nil {
		return nil, fmt.Errorf("open: %w: %w", ErrMalformed, err)
	}
	r := dag.NewReader(n, "")
	kind := Kind(r.Str("type"))
	version := getInt(r, "v")
	sig := r.Bytes("sig")
	if r.Failed() {
		return nil, fmt.Errorf("open: %w: %w", ErrMalformed, r.Err())
	}
	m := newMessage(kind)
	if m == nil || (len(kinds) > 0 && !containsKind(kinds, kind)) {
		return nil, fmt.Errorf("open: %w: %q, want one of %v", ErrUnexpectedKind, kind, kinds)
	}
	if version != WireVersion {
		return nil, fmt.Errorf("open %s: %w: %d, this build speaks %d", kind, ErrVersion, version, WireVersion)
	}
	m.decode(r)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w: %w", kind, ErrMalformed, err)
	}
	v, s := m.fields()
	*v, *s = version, sig
	again, err := toMap(m, true).Encode()
	if err != nil || !bytes.Equal(again, data) {
		return nil, fmt.Errorf("open %s: %w", kind, ErrNonCanonical)
	}
	if len(data) > m.limit() {
		return nil, fmt.Errorf("open %s: %w: %d bytes, limit %d", kind, ErrTooLarge, len(data), m.limit())
	}
	if err := Validate(m); err != nil {
		return nil, fmt.Errorf("open %w", err)
	}
	return m, nil
}

func containsKind(kinds []Kind, k Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

func openAs[T Message](data []byte, k Kind) (T, error) {
	var zero T
	m, err := Open(data, k)
	if err != nil {
		return zero, err
	}
	return m.(T), nil
}

// OpenAnnounce opens an Announce (see Open).
func OpenAnnounce(data []byte) (*Announce, error) { return openAs[*Announce](data, KindAnnounce) }

// OpenBid opens a Bid (see Open).
func OpenBid(data []byte) (*Bid, error) { return openAs[*Bid](data, KindBid) }

// OpenDecline opens a Decline (see Open).
func OpenDecline(data []byte) (*Decline, error) { return openAs[*Decline](data, KindDecline) }

// OpenAward opens an Award (see Open). It does not check expiry or replay:
// executors pass the award to Dedup.Check.
func OpenAward(data []byte) (*Award, error) { return openAs[*Award](data, KindAward) }

// OpenAccept opens an Accept (see Open).
func OpenAccept(data []byte) (*Accept, error) { return openAs[*Accept](data, KindAccept) }

// OpenStatus opens a Status (see Open).
func OpenStatus(data []byte) (*Status, error) { return openAs[*Status](data, KindStatus) }

// OpenReceipt opens a Receipt (see Open). DecodeReceipt is the same for
// stored receipt blocks.
func OpenReceipt(data []byte) (*Receipt, error) { return openAs[*Receipt](data, KindReceipt) }

// OpenCancel opens a Cancel (see Open).
func OpenCancel(data []byte) (*Cancel, error) { return openAs[*Cancel](data, KindCancel) }

// OpenQuery opens a Query (see Open).
func OpenQuery(data []byte) (*Query, error) { return openAs[*Query](data, KindQuery) }
