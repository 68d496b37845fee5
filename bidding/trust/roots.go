package trust

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Roots are what a node trusts: org names and their public keys, and a
// deny-list of peers and certificates. A Roots value is immutable; build a
// new one to change it.
type Roots struct {
	orgs map[string]crypto.PubKey
	deny map[string]bool // peer IDs and certificate IDs, in string form
}

// NewRoots builds roots from org name → public key (FormatPublicKey form)
// and deny-list entries (peer IDs or certificate IDs).
func NewRoots(trusted map[string]string, deny []string) (*Roots, error) {
	r := &Roots{orgs: map[string]crypto.PubKey{}, deny: map[string]bool{}}
	for name, ks := range trusted {
		if !ValidOrgName(name) {
			return nil, fmt.Errorf("trusted org %q: not an org name (1 to %d letters, digits or ._-)", name, MaxOrgNameLen)
		}
		k, err := ParsePublicKey(ks)
		if err != nil {
			return nil, fmt.Errorf("trusted org %s: %w", name, err)
		}
		r.orgs[name] = k
	}
	for _, d := range deny {
		id, err := NormalizeDenyEntry(d)
		if err != nil {
			return nil, err
		}
		r.deny[id] = true
	}
	return r, nil
}

// NormalizeDenyEntry checks a deny-list entry, a peer ID or a certificate
// ID, and returns its canonical string.
func NormalizeDenyEntry(s string) (string, error) {
	if p, err := peer.Decode(s); err == nil {
		return p.String(), nil
	}
	if c, err := cid.Decode(s); err == nil && c.Type() == cid.DagCBOR {
		return cid.NewCidV1(c.Type(), c.Hash()).String(), nil
	}
	return "", fmt.Errorf("deny-list entry %q is neither a peer ID nor a certificate ID (bafyrei…)", s)
}

// Orgs lists the trusted org names, sorted.
func (r *Roots) Orgs() []string {
	out := make([]string, 0, len(r.orgs))
	for n := range r.orgs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Key returns the key trusted for org.
func (r *Roots) Key(org string) (crypto.PubKey, bool) {
	k, ok := r.orgs[org]
	return k, ok
}

// Denied reports whether a peer ID or certificate ID is on the deny-list.
func (r *Roots) Denied(id string) bool { return r.deny[id] }

// Deny lists the deny-list entries, sorted.
func (r *Roots) Deny() []string {
	out := make([]string, 0, len(r.deny))
	for d := range r.deny {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// CheckError is why a certificate does not count: Err is one of the
// package's sentinel errors; the message reads "certificate for ORG …".
type CheckError struct {
	Org    string
	Err    error
	Detail string
}

func (e *CheckError) Error() string { return "certificate for " + e.Org + " " + e.Detail }

func (e *CheckError) Unwrap() error { return e.Err }

// Check decides whether c (decoded, so its signature by c.OrgKey verified)
// proves that c.Peer is a member of c.Org with role at now: the org is
// trusted with exactly that key, neither the peer nor the certificate is
// denied, now is within its validity, and its role grants role.
func (r *Roots) Check(c *Cert, role Role, now time.Time) error {
	fail := func(err error, format string, args ...any) error {
		return &CheckError{Org: c.Org, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
	if r.deny[c.Peer.String()] || (len(c.raw) > 0 && r.deny[c.ID().String()]) {
		return fail(ErrRevoked, "is revoked by this node's deny-list")
	}
	k, ok := r.orgs[c.Org]
	if !ok {
		return fail(ErrUntrusted, "is from an org this node does not trust")
	}
	if !k.Equals(c.OrgKey) {
		return fail(ErrForeignKey, "is not signed by the key trusted for %s (signed by %s)", c.Org, c.OrgKeyString())
	}
	if now.Before(c.Issued.Add(-MaxClockSkew)) {
		return fail(ErrNotYetValid, "is not valid before %s", c.Issued.Format(time.RFC3339))
	}
	if !now.Before(c.Expires) {
		return fail(ErrExpired, "expired at %s", c.Expires.Format(time.RFC3339))
	}
	if !c.Role.Grants(role) {
		return fail(ErrWrongRole, "grants role %s, not %s", c.Role, role)
	}
	return nil
}
