package bidding

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// The network remembers what it computed (docs/protocol.md §9): after a
// completed job its executor publishes a ReceiptRecord in the DHT under
// ReceiptRecordKey(job), and a requester about to announce a deterministic
// job looks the key up first.

// KindReceiptRecord is the DHT record of a job's receipts.
const KindReceiptRecord Kind = "receipt_record"

// ReceiptNamespace is the DHT namespace of receipt records (keys
// "/shoal-receipt/<binary job CID>"); every node registers
// ReceiptRecordValidator for it.
const ReceiptNamespace = "shoal-receipt"

// Limits of a receipt record.
const (
	// MaxRecordReceipts bounds the receipts of one record: an executor's
	// record holds one; a verified set (future) at most this many.
	MaxRecordReceipts = 8
	// MaxReceiptRecordSize bounds an encoded record.
	MaxReceiptRecordSize = MaxRecordReceipts*MaxMessageSize + MaxCerts*MaxCertSize + 1024
)

// ReceiptRecordKey is the DHT key of job's receipt record.
func ReceiptRecordKey(job cid.Cid) string { return "/" + ReceiptNamespace + "/" + string(job.Bytes()) }

// NetworkID names the network a record was published in: the sha256 of
// "shoal/network/v1", a NUL and the private network's pre-shared key (none
// for the open network). A record carries it under its signature, so a
// record copied from one network into another is refused there.
func NetworkID(psk []byte) []byte {
	h := sha256.New()
	h.Write([]byte("shoal/network/v1\x00"))
	h.Write(psk)
	return h.Sum(nil)
}

// ReceiptRecord is the DHT record of a job's receipts. Version 1 has one
// kind: one receipt, signed again by its executor with the network it was
// published in and the executor's membership certificates (so a requester
// that never met the executor can tell its orgs). Signed by By. At
// most MaxReceiptRecordSize bytes.
//
// A verified set of receipts (several executors' agreeing receipts,
// By the requester that verified them) is a later kind of the same
// record under the same key: Receipts is a list for that reason, and
// Select already prefers more receipts.
type ReceiptRecord struct {
	Version   int
	JobCID    cid.Cid
	Network   []byte   // NetworkID of the network it was published in
	By        peer.ID  // the signer: the executor of the receipt
	Receipts  [][]byte // receipt blocks (one)
	Certs     [][]byte // the signer's membership certificates (opaque here)
	Published time.Time
	Sig       []byte

	receipts []*Receipt // decoded by OpenReceiptRecord
}

// Kind implements Message.
func (r *ReceiptRecord) Kind() Kind { return KindReceiptRecord }

// Signer implements Message: By.
func (r *ReceiptRecord) Signer() peer.ID { return r.By }

func (r *ReceiptRecord) fields() (*int, *[]byte) { return &r.Version, &r.Sig }
func (r *ReceiptRecord) role() string            { return "executor or verifying requester" }
func (r *ReceiptRecord) limit() int              { return MaxReceiptRecordSize }

func (r *ReceiptRecord) encode(m *dag.Map) {
	m.Link("job", r.JobCID)
	m.Bytes("net", r.Network)
	putPeer(m, "by", r.By)
	m.BytesList("receipts", r.Receipts)
	m.BytesList("certs", r.Certs)
	putTime(m, "published", r.Published)
}

func (r *ReceiptRecord) decode(rd *dag.Reader) {
	r.JobCID = rd.Link("job")
	r.Network = rd.Bytes("net")
	r.By = getPeer(rd, "by")
	r.Receipts = rd.BytesList("receipts", MaxRecordReceipts)
	r.Certs = getCerts(rd, "certs")
	r.Published = getTime(rd, "published")
}

func (r *ReceiptRecord) check(c *checker) {
	c.jobCID("job", r.JobCID)
	if len(r.Network) != sha256.Size {
		c.failf("net", "%d bytes, want %d", len(r.Network), sha256.Size)
	}
	c.peer("by", r.By)
	if len(r.Receipts) < 1 {
		c.failf("receipts", "no receipt: a record holds one (an executor's) or a verified set of 2 to %d", MaxRecordReceipts)
	}
	for i, b := range r.Receipts {
		if len(b) == 0 || len(b) > MaxMessageSize {
			c.failf(fmt.Sprintf("receipts[%d]", i), "%d bytes: want 1 to %d", len(b), MaxMessageSize)
		}
	}
	c.certs("certs", r.Certs)
	c.time("published", r.Published)
}

// Receipt returns the record's (first) receipt, decoded and verified by
// OpenReceiptRecord; nil on a record that was not opened.
func (r *ReceiptRecord) Receipt() *Receipt {
	if len(r.receipts) == 0 {
		return nil
	}
	return r.receipts[0]
}

// ErrRecordMismatch: a receipt record that does not belong where it was
// found (another job's key, another network, a receipt of another job or
// executor).
var ErrRecordMismatch = errors.New("receipt record mismatch")

// SealReceiptRecord builds and signs the record of an executor's receipt
// block in network net. key is the executor's.
func SealReceiptRecord(key crypto.PrivKey, receipt []byte, net []byte, certs [][]byte, now time.Time) ([]byte, error) {
	rc, err := DecodeReceipt(receipt)
	if err != nil {
		return nil, fmt.Errorf("receipt record: %w", err)
	}
	r := &ReceiptRecord{Version: WireVersion, JobCID: rc.JobCID, Network: net, By: rc.Executor,
		Receipts: [][]byte{receipt}, Certs: certs, Published: now}
	return Seal(key, r)
}

// SealOwnReceiptRecord is SealReceiptRecord for a receipt this process
// sealed itself: rc is what it sealed into receipt, so the block is not
// opened (its signature checked) again. sealed, when not nil, remembers
// the record's bytes for the validator (ReceiptRecordValidator.Sealed).
func SealOwnReceiptRecord(key crypto.PrivKey, receipt []byte, rc *Receipt, net []byte, certs [][]byte, now time.Time, sealed *SealedRecords) ([]byte, error) {
	r := &ReceiptRecord{Version: WireVersion, JobCID: rc.JobCID, Network: net, By: rc.Executor,
		Receipts: [][]byte{receipt}, Certs: certs, Published: now}
	b, err := Seal(key, r)
	if err != nil {
		return nil, err
	}
	sealed.add(b)
	return b, nil
}

// SealedRecords remembers the last maxSealedRecords receipt records this
// node sealed, by the sha256 of their bytes, so that its DHT's validator
// (which validates the node's own puts) does not verify its own
// signatures again. Safe for concurrent use; a nil *SealedRecords holds
// nothing.
type SealedRecords struct {
	mu    sync.Mutex
	set   map[[sha256.Size]byte]struct{}
	order [][sha256.Size]byte
}

// maxSealedRecords bounds SealedRecords (a record is validated locally
// right after it is sealed; memoMaxPublishing are in flight at most).
const maxSealedRecords = 256

func (s *SealedRecords) add(b []byte) {
	if s == nil {
		return
	}
	h := sha256.Sum256(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = map[[sha256.Size]byte]struct{}{}
	}
	if _, ok := s.set[h]; ok {
		return
	}
	s.set[h] = struct{}{}
	s.order = append(s.order, h)
	for len(s.order) > maxSealedRecords {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *SealedRecords) has(b []byte) bool {
	if s == nil {
		return false
	}
	h := sha256.Sum256(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[h]
	return ok
}

// OpenReceiptRecord decodes a record found under key in network net: size
// before decoding, canonical encoding, the signer's signature, the
// network, the key's job, and each receipt opened (its executor's
// signature) with the record's job and, for an executor's record, the
// signer (By) as its executor.
func OpenReceiptRecord(data []byte, key string, net []byte) (*ReceiptRecord, error) {
	return openReceiptRecord(data, key, net, true)
}

// openReceiptRecord is OpenReceiptRecord; without verify (a record this
// process sealed, by its exact bytes) the signatures are not checked
// again, everything else is.
func openReceiptRecord(data []byte, key string, net []byte, verify bool) (*ReceiptRecord, error) {
	open := func(b []byte, k Kind) (Message, error) {
		if verify {
			return Open(b, k)
		}
		return decodeChecked(b, []Kind{k})
	}
	m, err := open(data, KindReceiptRecord)
	if err != nil {
		return nil, err
	}
	r := m.(*ReceiptRecord)
	job, err := recordKeyJob(key)
	if err != nil {
		return nil, err
	}
	if r.JobCID != job {
		return nil, fmt.Errorf("%w: record of job %s under the key of job %s", ErrRecordMismatch, r.JobCID, job)
	}
	if !bytes.Equal(r.Network, net) {
		return nil, fmt.Errorf("%w: record published in another network", ErrRecordMismatch)
	}
	for i, b := range r.Receipts {
		m, err := open(b, KindReceipt)
		if err != nil {
			return nil, fmt.Errorf("receipt record: receipts[%d]: decode receipt: %w", i, err)
		}
		rc := m.(*Receipt)
		if rc.JobCID != r.JobCID {
			return nil, fmt.Errorf("%w: receipts[%d] is of job %s, the record of %s", ErrRecordMismatch, i, rc.JobCID, r.JobCID)
		}
		if len(r.Receipts) == 1 && rc.Executor != r.By {
			return nil, fmt.Errorf("%w: receipts[%d] is by executor %s, the record signed by %s", ErrRecordMismatch, i, rc.Executor, r.By)
		}
		r.receipts = append(r.receipts, rc)
	}
	if len(r.receipts) > 1 {
		if err := checkVerifiedSet(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// A verified set (docs/protocol.md §10): a record of 2 to
// MaxRecordReceipts receipts signed by the requester that verified them
// (By is every receipt's requester), each of another executor, all
// agreeing and all succeeded.
func checkVerifiedSet(r *ReceiptRecord) error {
	first := r.receipts[0]
	seen := map[peer.ID]bool{}
	for i, rc := range r.receipts {
		switch {
		case rc.Requester != r.By:
			return fmt.Errorf("%w: verified set: receipts[%d] is of requester %s, the set signed by %s", ErrRecordMismatch, i, rc.Requester, r.By)
		case seen[rc.Executor]:
			return fmt.Errorf("%w: verified set: receipts[%d] repeats executor %s", ErrRecordMismatch, i, rc.Executor)
		case !rc.Succeeded():
			return fmt.Errorf("%w: verified set: receipts[%d] did not succeed", ErrRecordMismatch, i)
		case rc.OutputsRoot != first.OutputsRoot || rc.Stdout != first.Stdout || rc.Stderr != first.Stderr || rc.ExitCode != first.ExitCode:
			return fmt.Errorf("%w: verified set: receipts[%d] disagrees with receipts[0]", ErrRecordMismatch, i)
		}
		seen[rc.Executor] = true
	}
	return nil
}

// Set reports whether the record is a verified set (more than one
// receipt, signed by their requester).
func (r *ReceiptRecord) Set() bool { return len(r.receipts) > 1 }

// All returns the record's receipts, decoded and verified by
// OpenReceiptRecord.
func (r *ReceiptRecord) All() []*Receipt { return r.receipts }

// SealVerifiedSet builds and signs the record of a verified job's
// agreeing receipts (2 to MaxRecordReceipts blocks) in network net; key
// is the requester's, whose awards they settled.
func SealVerifiedSet(key crypto.PrivKey, receipts [][]byte, net []byte, certs [][]byte, now time.Time) ([]byte, error) {
	if len(receipts) < 2 || len(receipts) > MaxRecordReceipts {
		return nil, fmt.Errorf("verified set: %d receipts, want 2 to %d", len(receipts), MaxRecordReceipts)
	}
	rc, err := DecodeReceipt(receipts[0])
	if err != nil {
		return nil, fmt.Errorf("verified set: %w", err)
	}
	r := &ReceiptRecord{Version: WireVersion, JobCID: rc.JobCID, Network: net, By: rc.Requester,
		Receipts: receipts, Certs: certs, Published: now}
	return Seal(key, r)
}

func recordKeyJob(key string) (cid.Cid, error) {
	rest, ok := strings.CutPrefix(key, "/"+ReceiptNamespace+"/")
	if !ok {
		return cid.Undef, fmt.Errorf("%w: key outside /%s/", ErrRecordMismatch, ReceiptNamespace)
	}
	c, err := cid.Cast([]byte(rest))
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: key is not a job CID: %w", ErrRecordMismatch, err)
	}
	return c, nil
}

// ReceiptRecordValidator is the DHT's record.Validator for
// ReceiptNamespace: Validate opens a record (OpenReceiptRecord) in
// Network; Select picks one deterministically.
type ReceiptRecordValidator struct {
	// Network is this node's NetworkID.
	Network []byte
	// Now is the clock for the publication time (default time.Now): a
	// record published more than MaxClockSkew ahead is refused.
	Now func() time.Time
	// Sealed are the records this node sealed (nil: none): their
	// signatures are not verified again; every other check is made.
	Sealed *SealedRecords
}

// Validate implements record.Validator.
func (v ReceiptRecordValidator) Validate(key string, value []byte) error {
	r, err := openReceiptRecord(value, key, v.Network, !v.Sealed.has(value))
	if err != nil {
		return err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if r.Published.After(now().Add(MaxClockSkew)) {
		return fmt.Errorf("receipt record published at %s, in the future", r.Published.Format(time.RFC3339))
	}
	return nil
}

// Select implements record.Validator: of the valid records, the one with
// the most receipts (a verified set over one receipt), then a succeeded
// receipt over a failed one, then the receipt that finished first (the
// first run of a job stays its record), then the smallest encoding. Every
// node picks the same one of the same values.
func (v ReceiptRecordValidator) Select(key string, values [][]byte) (int, error) {
	best, bestRec := -1, (*ReceiptRecord)(nil)
	for i, b := range values {
		r, err := OpenReceiptRecord(b, key, v.Network)
		if err != nil {
			continue
		}
		if best < 0 || recordBefore(r, b, bestRec, values[best]) {
			best, bestRec = i, r
		}
	}
	if best < 0 {
		return 0, errors.New("no valid receipt record")
	}
	return best, nil
}

func recordBefore(a *ReceiptRecord, ab []byte, b *ReceiptRecord, bb []byte) bool {
	if len(a.receipts) != len(b.receipts) {
		return len(a.receipts) > len(b.receipts)
	}
	ra, rb := a.Receipt(), b.Receipt()
	if ra.Succeeded() != rb.Succeeded() {
		return ra.Succeeded()
	}
	if !ra.FinishedAt.Equal(rb.FinishedAt) {
		return ra.FinishedAt.Before(rb.FinishedAt)
	}
	return bytes.Compare(ab, bb) < 0
}

// MemoLookupTimeout bounds a requester's lookup of a receipt to reuse
// (the local cache, then the DHT record) before it announces.
const MemoLookupTimeout = time.Second
