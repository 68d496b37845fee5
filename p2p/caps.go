package p2p

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	mh "github.com/multiformats/go-multihash"
)

// Capability records live in the DHT under /CapNamespace/<peer ID bytes>.
const (
	CapNamespace = "shoalcap"
	// CapDomain is the signature domain of a capability record envelope.
	CapDomain = "shoal-capability-record"
	// CapVersion is the record format version.
	CapVersion = 1
	// MaxCapRecordSize bounds an encoded (signed) record.
	MaxCapRecordSize = 8 << 10
	// MaxLabels bounds the number of labels a record carries.
	MaxLabels = 64
	// MaxRecordPeers bounds the connected peers a record lists.
	MaxRecordPeers = 16
)

// capCodec is the envelope payload type: the multicodec "json" (0x0200).
var capCodec = []byte{0x80, 0x04}

// Errors returned by record validation.
var (
	ErrCapTooLarge  = errors.New("capability record too large")
	ErrCapExpired   = errors.New("capability record expired")
	ErrCapSigner    = errors.New("capability record signed by another peer than its key names")
	ErrCapMalformed = errors.New("malformed capability record")
)

// Capabilities is what a node announces about itself.
type Capabilities struct {
	Version  int               `json:"v"`
	Peer     peer.ID           `json:"peer"`
	Seq      uint64            `json:"seq"`
	Expires  time.Time         `json:"expires"`
	Engines  []string          `json:"engines"`
	CPU      float64           `json:"cpu"`    // cores available to jobs
	Memory   int64             `json:"memory"` // bytes available to jobs
	Disk     int64             `json:"disk"`   // bytes free in the repo
	GPU      int               `json:"gpu,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Load     Load              `json:"load"`
	Software string            `json:"software"` // e.g. "shoal/0.1.0"
	Addrs    []string          `json:"addrs,omitempty"`
	Certs    [][]byte          `json:"certs,omitempty"` // org membership certificates
	// Peers are some of the peers the node was connected to when it
	// signed the record (at most MaxRecordPeers), for the dashboard's
	// network map; nothing decides on them, a node may list anyone.
	Peers []peer.ID `json:"peers,omitempty"`
}

// Load is the node's current occupation.
type Load struct {
	Running   int `json:"running"`
	Queued    int `json:"queued"`
	FreeSlots int `json:"free_slots"`
}

var _ record.Record = (*Capabilities)(nil)

// Domain implements record.Record.
func (c *Capabilities) Domain() string { return CapDomain }

// Codec implements record.Record.
func (c *Capabilities) Codec() []byte { return capCodec }

// MarshalRecord implements record.Record.
func (c *Capabilities) MarshalRecord() ([]byte, error) { return json.Marshal(c) }

// UnmarshalRecord implements record.Record; unknown fields are rejected.
func (c *Capabilities) UnmarshalRecord(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("%w: %v", ErrCapMalformed, err)
	}
	return nil
}

// HasEngine reports whether the record lists engine e.
func (c *Capabilities) HasEngine(e string) bool {
	for _, x := range c.Engines {
		if x == e {
			return true
		}
	}
	return false
}

// MatchLabels reports whether every k=v in want is in the record's labels.
func (c *Capabilities) MatchLabels(want map[string]string) bool {
	for k, v := range want {
		if c.Labels[k] != v {
			return false
		}
	}
	return true
}

// CapKey is the DHT key of a peer's capability record.
func CapKey(p peer.ID) string { return "/" + CapNamespace + "/" + string(p) }

// SealCapabilities signs c with key and returns the envelope bytes.
func SealCapabilities(c *Capabilities, key crypto.PrivKey) ([]byte, error) {
	env, err := record.Seal(c, key)
	if err != nil {
		return nil, fmt.Errorf("seal capability record: %w", err)
	}
	b, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	if len(b) > MaxCapRecordSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrCapTooLarge, len(b), MaxCapRecordSize)
	}
	return b, nil
}

// OpenCapabilities checks the size and signature of an encoded record, that
// its signer is the peer it names, and its shape. It does not check expiry.
func OpenCapabilities(data []byte) (*Capabilities, error) {
	if len(data) > MaxCapRecordSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrCapTooLarge, len(data), MaxCapRecordSize)
	}
	var c Capabilities
	env, err := record.ConsumeTypedEnvelope(data, &c)
	if err != nil {
		if errors.Is(err, ErrCapMalformed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrCapMalformed, err)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCapMalformed, err)
	}
	if signer != c.Peer {
		return nil, fmt.Errorf("%w: record names %s, signed by %s", ErrCapSigner, c.Peer, signer)
	}
	if c.Version != CapVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrCapMalformed, c.Version)
	}
	if len(c.Labels) > MaxLabels {
		return nil, fmt.Errorf("%w: %d labels > %d", ErrCapMalformed, len(c.Labels), MaxLabels)
	}
	if len(c.Peers) > MaxRecordPeers {
		return nil, fmt.Errorf("%w: %d peers > %d", ErrCapMalformed, len(c.Peers), MaxRecordPeers)
	}
	return &c, nil
}

// CapValidator validates capability records for the DHT: signed by the peer
// in the key, not expired, within size; Select prefers the highest sequence
// number.
type CapValidator struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

func (v CapValidator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Validate implements record.Validator.
func (v CapValidator) Validate(key string, value []byte) error {
	ns, rest, ok := strings.Cut(strings.TrimPrefix(key, "/"), "/")
	if !ok || ns != CapNamespace {
		return fmt.Errorf("%w: key %q is not in /%s/", ErrCapMalformed, key, CapNamespace)
	}
	keyPeer, err := peer.IDFromBytes([]byte(rest))
	if err != nil {
		return fmt.Errorf("%w: key does not name a peer: %v", ErrCapMalformed, err)
	}
	c, err := OpenCapabilities(value)
	if err != nil {
		return err
	}
	if c.Peer != keyPeer {
		return fmt.Errorf("%w: record for %s stored under %s", ErrCapSigner, c.Peer, keyPeer)
	}
	if !c.Expires.After(v.now()) {
		return fmt.Errorf("%w: at %s", ErrCapExpired, c.Expires.Format(time.RFC3339))
	}
	return nil
}

// Select implements record.Validator: the valid record with the highest
// sequence number wins; a stale sequence never replaces a newer one.
func (v CapValidator) Select(key string, values [][]byte) (int, error) {
	best, bestSeq := -1, uint64(0)
	for i, val := range values {
		if v.Validate(key, val) != nil {
			continue
		}
		c, _ := OpenCapabilities(val)
		if best < 0 || c.Seq > bestSeq {
			best, bestSeq = i, c.Seq
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: no valid record among %d", ErrCapMalformed, len(values))
	}
	return best, nil
}

// CapabilityKeys returns the well-known CIDs a node with these capabilities
// provides: one for every node, one per engine and one per label, so that
// FindProviders lists the nodes that have a capability.
func CapabilityKeys(c *Capabilities) []cid.Cid {
	names := []string{"shoal/node"}
	for _, e := range c.Engines {
		names = append(names, EngineKeyName(e))
	}
	for k, v := range c.Labels {
		names = append(names, LabelKeyName(k, v))
	}
	sort.Strings(names[1:])
	keys := make([]cid.Cid, 0, len(names))
	for _, n := range names {
		keys = append(keys, WellKnownKey(n))
	}
	return keys
}

// EngineKeyName is the well-known key name of an engine.
func EngineKeyName(e string) string { return "shoal/engine/" + e }

// LabelKeyName is the well-known key name of a label.
func LabelKeyName(k, v string) string { return "shoal/label/" + k + "=" + v }

// WellKnownKey is the CIDv1 (raw, sha2-256) of the bytes of name.
func WellKnownKey(name string) cid.Cid {
	h, _ := mh.Sum([]byte(name), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}
