package trust

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Certificate format and limits.
const (
	// CertVersion is the version of the certificate format.
	CertVersion = 1
	// CertDomain is signed before a certificate's encoding, so an org key's
	// signature on a certificate can never pass for anything else.
	CertDomain = "shoal/org-cert/v1\x00"
	// MaxCertSize bounds an encoded certificate (bidding.MaxCertSize, the
	// room a message gives one); real ones are about 250 bytes.
	MaxCertSize = bidding.MaxCertSize
	// MaxOrgNameLen bounds an org name (as constraints.executors.orgs).
	MaxOrgNameLen = 64
	// MaxValidity bounds expires - issued.
	MaxValidity = 10 * 365 * 24 * time.Hour
	// DefaultValidity is the validity of `shoal org issue` without --expires.
	DefaultValidity = 720 * time.Hour
	// PEMType is the PEM block type of a certificate file.
	PEMType = "SHOAL ORG CERTIFICATE"
)

// Errors of decoding and checking certificates. Checks wrap them with the
// details (org, peer, times).
var (
	ErrMalformed    = errors.New("trust: malformed certificate")
	ErrBadSignature = errors.New("trust: certificate signature does not verify")
	ErrWrongPeer    = errors.New("trust: certificate names another peer")
	ErrUntrusted    = errors.New("trust: org not trusted here")
	ErrForeignKey   = errors.New("trust: certificate not signed by the key trusted for its org")
	ErrExpired      = errors.New("trust: certificate expired")
	ErrNotYetValid  = errors.New("trust: certificate not yet valid")
	ErrRevoked      = errors.New("trust: certificate revoked")
	ErrWrongRole    = errors.New("trust: certificate does not grant the role")
)

// MaxClockSkew is how far in the future a certificate's issue time may be.
const MaxClockSkew = bidding.MaxClockSkew

// Role is what a membership lets its peer do on behalf of the org.
type Role string

// Roles.
const (
	// RoleRequester: the peer submits jobs as a member (bidders' allow-lists).
	RoleRequester Role = "requester"
	// RoleExecutor: the peer runs jobs as a member (constraints.executors.orgs).
	RoleExecutor Role = "executor"
	// RoleBoth grants both.
	RoleBoth Role = "both"
)

// ParseRole parses "requester", "executor" or "both".
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleRequester, RoleExecutor, RoleBoth:
		return r, nil
	}
	return "", fmt.Errorf("invalid role %q: want requester, executor or both", s)
}

// Grants reports whether a certificate of role r allows want.
func (r Role) Grants(want Role) bool { return r == RoleBoth || r == want }

// Cert is an org membership certificate: the org's key says that Peer is a
// member of Org with Role from Issued until Expires.
type Cert struct {
	Org     string
	OrgKey  crypto.PubKey
	Peer    peer.ID
	Role    Role
	Issued  time.Time
	Expires time.Time
	Sig     []byte

	raw []byte // the encoding it was decoded from or sealed to
}

// ValidOrgName reports whether s is an org name: 1 to 64 letters, digits or
// ._- starting with a letter or digit (the rule of constraints.executors.orgs).
func ValidOrgName(s string) bool {
	if len(s) == 0 || len(s) > MaxOrgNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Issue signs a certificate for p with the org key, valid from now for ttl.
func Issue(orgKey crypto.PrivKey, org string, p peer.ID, role Role, now time.Time, ttl time.Duration) (*Cert, error) {
	c := &Cert{Org: org, OrgKey: orgKey.GetPublic(), Peer: p, Role: role,
		Issued: now.UTC().Truncate(time.Millisecond), Expires: now.Add(ttl).UTC().Truncate(time.Millisecond)}
	if err := c.check(); err != nil {
		return nil, err
	}
	payload, err := c.signingBytes()
	if err != nil {
		return nil, err
	}
	if c.Sig, err = orgKey.Sign(payload); err != nil {
		return nil, fmt.Errorf("trust: sign certificate: %w", err)
	}
	if c.raw, err = c.encode(true); err != nil {
		return nil, err
	}
	if len(c.raw) > MaxCertSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(c.raw), MaxCertSize)
	}
	return c, nil
}

// check applies the field rules (not the signature).
func (c *Cert) check() error {
	switch {
	case !ValidOrgName(c.Org):
		return fmt.Errorf("%w: org name %q: 1 to %d letters, digits or ._- starting with a letter or digit", ErrMalformed, c.Org, MaxOrgNameLen)
	case c.OrgKey == nil:
		return fmt.Errorf("%w: no org key", ErrMalformed)
	case c.Peer == "":
		return fmt.Errorf("%w: no peer", ErrMalformed)
	case c.Issued.IsZero() || c.Issued.UnixMilli() <= 0 || c.Expires.IsZero():
		return fmt.Errorf("%w: issue and expiry times are required", ErrMalformed)
	case !c.Expires.After(c.Issued):
		return fmt.Errorf("%w: expires (%s) is not after issued (%s)", ErrMalformed, c.Expires.Format(time.RFC3339), c.Issued.Format(time.RFC3339))
	case c.Expires.Sub(c.Issued) > MaxValidity:
		return fmt.Errorf("%w: valid for %s, more than the %s allowed", ErrMalformed, c.Expires.Sub(c.Issued), MaxValidity)
	}
	if _, err := ParseRole(string(c.Role)); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := peer.IDFromBytes([]byte(c.Peer)); err != nil {
		return fmt.Errorf("%w: peer: %v", ErrMalformed, err)
	}
	return nil
}

func (c *Cert) encode(withSig bool) ([]byte, error) {
	key, err := crypto.MarshalPublicKey(c.OrgKey)
	if err != nil {
		return nil, fmt.Errorf("%w: org key: %v", ErrMalformed, err)
	}
	m := dag.NewMap()
	m.IntAlways("v", CertVersion)
	m.Str("org", c.Org)
	m.Bytes("key", key)
	m.Bytes("peer", []byte(c.Peer))
	m.Str("role", string(c.Role))
	m.IntAlways("issued", c.Issued.UnixMilli())
	m.IntAlways("expires", c.Expires.UnixMilli())
	if withSig {
		m.Bytes("sig", c.Sig)
	}
	return m.Encode()
}

func (c *Cert) signingBytes() ([]byte, error) {
	b, err := c.encode(false)
	if err != nil {
		return nil, err
	}
	return append([]byte(CertDomain), b...), nil
}

// DecodeCert decodes a certificate strictly (size, canonical dag-cbor, no
// unknown keys, field rules) and verifies its signature by the org key it
// carries. Whether that key is trusted is the Roots' business.
func DecodeCert(b []byte) (*Cert, error) {
	if len(b) > MaxCertSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxCertSize)
	}
	n, err := dag.Decode(b, MaxCertSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r := dag.NewReader(n, "")
	v := r.Int("v")
	c := &Cert{Org: r.Str("org"), Role: Role(r.Str("role")), Sig: r.Bytes("sig")}
	key := r.Bytes("key")
	pid := r.Bytes("peer")
	issued, expires := r.Int("issued"), r.Int("expires")
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if v != CertVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrMalformed, v, CertVersion)
	}
	if c.OrgKey, err = crypto.UnmarshalPublicKey(key); err != nil {
		return nil, fmt.Errorf("%w: org key: %v", ErrMalformed, err)
	}
	c.Peer = peer.ID(pid)
	c.Issued, c.Expires = time.UnixMilli(issued).UTC(), time.UnixMilli(expires).UTC()
	if err := c.check(); err != nil {
		return nil, err
	}
	again, err := c.encode(true)
	if err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	c.raw = again
	payload, err := c.signingBytes()
	if err != nil {
		return nil, err
	}
	if ok, err := c.OrgKey.Verify(payload, c.Sig); err != nil || !ok {
		return nil, fmt.Errorf("%w: certificate of %s for org %s", ErrBadSignature, c.Peer, c.Org)
	}
	return c, nil
}

// Bytes is the certificate's encoding (what travels in messages).
func (c *Cert) Bytes() []byte { return c.raw }

// ID names the certificate: the CID (v1, dag-cbor, sha2-256) of its
// encoding. A deny-list entry of this form revokes this one certificate.
func (c *Cert) ID() cid.Cid { return dag.CID(c.raw) }

// OrgKeyString is the org's public key in the form `shoal org trust` takes.
func (c *Cert) OrgKeyString() string { return FormatPublicKey(c.OrgKey) }

// String describes the certificate for humans.
func (c *Cert) String() string {
	return fmt.Sprintf("%s member %s (%s) until %s", c.Org, c.Peer, c.Role, c.Expires.Format(time.RFC3339))
}

// EncodePEM writes a certificate file: one PEM block of type PEMType.
func (c *Cert) EncodePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Headers: map[string]string{
		"Org": c.Org, "Peer": c.Peer.String(), "Role": string(c.Role), "Expires": c.Expires.Format(time.RFC3339),
	}, Bytes: c.raw})
}

// ParseCertFile reads a certificate file: a PEM block of type PEMType (the
// headers are informative only), or the raw encoding.
func ParseCertFile(data []byte) (*Cert, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != PEMType {
			return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrMalformed, blk.Type, PEMType)
		}
		return DecodeCert(blk.Bytes)
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return nil, fmt.Errorf("%w: unreadable PEM block", ErrMalformed)
	}
	return DecodeCert(data)
}
