package trust

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// DefaultDirectorySize is how many peers a Directory remembers.
const DefaultDirectorySize = 4096

// Directory remembers the certificates peers presented and answers which
// orgs a peer is a member of, for a role, under the current Roots. A peer's
// latest presentation replaces its earlier ones: its memberships are what
// it shows now. Signatures are verified once, when learned; trust, the
// deny-list, expiry and role are checked at every question, so changing the
// Roots takes effect at once. It is safe for concurrent use.
type Directory struct {
	mu    sync.Mutex
	roots *Roots
	max   int
	peers map[peer.ID]*entry
	now   func() time.Time
}

type entry struct {
	raw   [][]byte
	certs []*Cert
	bad   []string // why presented certificates could not be read
}

// NewDirectory returns a directory checking against roots (nil: trusts no
// org) that remembers up to max peers (DefaultDirectorySize when max ≤ 0);
// beyond that a random peer is forgotten.
func NewDirectory(roots *Roots, max int) *Directory {
	if roots == nil {
		roots, _ = NewRoots(nil, nil)
	}
	if max <= 0 {
		max = DefaultDirectorySize
	}
	return &Directory{roots: roots, max: max, peers: map[peer.ID]*entry{}, now: time.Now}
}

// SetRoots replaces the roots.
func (d *Directory) SetRoots(r *Roots) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.roots = r
}

// Roots returns the current roots.
func (d *Directory) Roots() *Roots {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.roots
}

// Learn records the certificates p presented in a message it signed. Each
// is decoded and its signature verified; one naming another peer does not
// count. An empty presentation forgets p.
func (d *Directory) Learn(p peer.ID, raw [][]byte) {
	d.mu.Lock()
	if e, ok := d.peers[p]; ok && slices.EqualFunc(e.raw, raw, bytes.Equal) {
		d.mu.Unlock()
		return // the same certificates again (every announce of a requester)
	}
	d.mu.Unlock()
	if len(raw) == 0 {
		d.Forget(p)
		return
	}
	e := &entry{raw: make([][]byte, 0, len(raw))}
	for _, b := range raw {
		e.raw = append(e.raw, bytes.Clone(b))
		c, err := DecodeCert(b)
		switch {
		case err != nil:
			e.bad = append(e.bad, describeDecodeError(b, err))
		case c.Peer != p:
			e.bad = append(e.bad, fmt.Sprintf("certificate for %s names another peer (%s)", c.Org, c.Peer))
		default:
			e.certs = append(e.certs, c)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.peers[p]; !ok && len(d.peers) >= d.max {
		for victim := range d.peers { // map order is random
			delete(d.peers, victim)
			break
		}
	}
	d.peers[p] = e
}

// Forget drops what p presented.
func (d *Directory) Forget(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.peers, p)
}

// Known reports whether p presented certificates that are remembered.
func (d *Directory) Known(p peer.ID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.peers[p]
	return ok
}

// Members returns the orgs p proved membership of for role now, sorted,
// and, for every certificate that did not count, why ("certificate for
// acme expired at …").
func (d *Directory) Members(p peer.ID, role Role) (orgs, problems []string) {
	d.mu.Lock()
	e, roots, now := d.peers[p], d.roots, d.now()
	d.mu.Unlock()
	if e == nil {
		return nil, nil
	}
	problems = append(problems, e.bad...)
	for _, c := range e.certs {
		if err := roots.Check(c, role, now); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if !slices.Contains(orgs, c.Org) {
			orgs = append(orgs, c.Org)
		}
	}
	slices.Sort(orgs)
	return orgs, problems
}

// describeDecodeError names the org of an unreadable certificate when the
// bytes still decode far enough to show it.
func describeDecodeError(b []byte, err error) string {
	org := "an org"
	if n, derr := decodeOrgName(b); derr == nil && ValidOrgName(n) {
		org = n
	}
	switch {
	case errors.Is(err, ErrBadSignature):
		return fmt.Sprintf("certificate for %s has a bad signature (forged or altered)", org)
	default:
		return fmt.Sprintf("certificate for %s is malformed", org)
	}
}

// decodeOrgName reads only the org name of an encoded certificate.
func decodeOrgName(b []byte) (string, error) {
	n, err := dag.Decode(b, MaxCertSize)
	if err != nil {
		return "", err
	}
	v, err := n.LookupByString("org")
	if err != nil {
		return "", err
	}
	return v.AsString()
}
