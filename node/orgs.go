package node

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/trust"
)

// Repo directories of the trust layer.
const (
	// OrgKeysDir holds the keys of the orgs this repo administers
	// (NAME.key, mode 0600).
	OrgKeysDir = "orgs"
	// CertsDir holds this node's membership certificates (ORG.cert, PEM).
	CertsDir = "certs"
)

// Errors of org operations.
var (
	ErrOrgExists  = errors.New("org key already exists")
	ErrNoOrgKey   = errors.New("no key for this org in the repo")
	ErrNoSuchCert = errors.New("no certificate for this org")
)

// OrgsConfig is the trust section of the config.
type OrgsConfig struct {
	// Trusted maps an org name to its public key (`shoal org trust`).
	// Certificates of these orgs, signed by these keys, count here.
	Trusted map[string]string `json:"trusted,omitempty"`
	// Deny revokes certificates: a peer ID revokes all of that peer's, a
	// certificate ID (bafyrei…) one (`shoal org revoke`).
	Deny []string `json:"deny,omitempty"`
}

// Validate checks names, keys and deny-list entries.
func (o OrgsConfig) Validate() error {
	_, err := trust.NewRoots(o.Trusted, o.Deny)
	return err
}

// OrgKeyInfo names an org and its public key.
type OrgKeyInfo struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// CertInfo describes a membership certificate.
type CertInfo struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	OrgKey    string    `json:"org_key"`
	Peer      string    `json:"peer"`
	Role      string    `json:"role"`
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires"`
	Expired   bool      `json:"expired,omitempty"`
	Error     string    `json:"error,omitempty"`
	PEM       string    `json:"pem,omitempty"`
	Installed string    `json:"installed,omitempty"` // file, for `org join`
}

func certInfo(c *trust.Cert, now time.Time) CertInfo {
	return CertInfo{ID: c.ID().String(), Org: c.Org, OrgKey: c.OrgKeyString(), Peer: c.Peer.String(), Role: string(c.Role),
		Issued: c.Issued, Expires: c.Expires, Expired: !now.Before(c.Expires)}
}

// OrgInfo is the trust state of a node: `shoal org list`.
type OrgInfo struct {
	// Keys are the orgs this repo holds the key of (it can issue for them).
	Keys []OrgKeyInfo `json:"keys"`
	// Trusted are the orgs whose certificates count here.
	Trusted []OrgKeyInfo `json:"trusted"`
	// Certs are this node's memberships, presented to others.
	Certs []CertInfo `json:"certs"`
	// Deny is the deny-list.
	Deny []string `json:"deny"`
}

// OrgStore is the trust state of a repo on disk: org keys, this node's
// certificates and the orgs section of the config. The daemon uses it
// behind its API; the CLI uses it directly when no daemon holds the repo.
// It does not lock: callers hold the repo lock or are the daemon.
type OrgStore struct {
	Repo string
	// Self is the repo's peer ID (certificates installed must name it).
	Self peer.ID
	// now is the clock (tests).
	now func() time.Time
}

func (s *OrgStore) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *OrgStore) keyPath(name string) string {
	return filepath.Join(s.Repo, OrgKeysDir, name+".key")
}

func (s *OrgStore) certPath(org string) string {
	return filepath.Join(s.Repo, CertsDir, org+".cert")
}

func checkOrgName(name string) error {
	if !trust.ValidOrgName(name) {
		return fmt.Errorf("invalid org name %q: 1 to %d letters, digits or ._- starting with a letter or digit", name, trust.MaxOrgNameLen)
	}
	return nil
}

// editConfig loads the repo's config, applies fn and saves it.
func (s *OrgStore) editConfig(fn func(*Config) error) error {
	path := filepath.Join(s.Repo, ConfigFile)
	c, err := LoadConfig(path)
	if err != nil {
		return err
	}
	if err := fn(c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return c.Save(path)
}

// Init creates the key of a new org in the repo (orgs/NAME.key, 0600) and
// trusts it here. It returns the org's public key, for other nodes'
// `shoal org trust`.
func (s *OrgStore) Init(name string) (string, error) {
	if err := checkOrgName(name); err != nil {
		return "", err
	}
	path := s.keyPath(name)
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("%w: %s (an org keeps its key; remove the file to start over)", ErrOrgExists, path)
	}
	k, err := trust.GenerateOrgKey()
	if err != nil {
		return "", err
	}
	raw, err := trust.MarshalOrgKey(k)
	if err != nil {
		return "", err
	}
	pub := trust.FormatPublicKey(k.GetPublic())
	err = s.editConfig(func(c *Config) error {
		if old, ok := c.Orgs.Trusted[name]; ok && old != pub {
			return fmt.Errorf("this node already trusts another key for org %s (%s); `shoal org untrust %s` first", name, old, name)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, raw, 0o600); err != nil {
		return "", fmt.Errorf("write org key: %w", err)
	}
	return pub, s.Trust(name, pub)
}

// Keys lists the orgs whose key the repo holds.
func (s *OrgStore) Keys() ([]OrgKeyInfo, error) {
	ents, err := os.ReadDir(filepath.Join(s.Repo, OrgKeysDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []OrgKeyInfo
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || !trust.ValidOrgName(name) {
			continue
		}
		k, err := s.loadOrgKey(name)
		if err != nil {
			return nil, err
		}
		out = append(out, OrgKeyInfo{Name: name, PublicKey: trust.FormatPublicKey(k.GetPublic())})
	}
	return out, nil
}

// Issue signs a membership certificate of org for p with role, valid for
// ttl (trust.DefaultValidity when 0).
func (s *OrgStore) Issue(org string, p peer.ID, role trust.Role, ttl time.Duration) (*trust.Cert, error) {
	if err := checkOrgName(org); err != nil {
		return nil, err
	}
	k, err := s.loadOrgKey(org)
	if err != nil {
		return nil, err
	}
	if ttl == 0 {
		ttl = trust.DefaultValidity
	}
	return trust.Issue(k, org, p, role, s.clock(), ttl)
}

func (s *OrgStore) loadOrgKey(name string) (crypto.PrivKey, error) {
	raw, err := os.ReadFile(s.keyPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (create it with `shoal org init %s` on the org's admin node)", ErrNoOrgKey, name, name)
	}
	if err != nil {
		return nil, err
	}
	return trust.UnmarshalOrgKey(raw)
}

// Join installs a certificate file for this node (certs/ORG.cert),
// replacing an earlier one of the same org. The certificate must name this
// node, verify, and not be expired.
func (s *OrgStore) Join(data []byte) (*trust.Cert, error) {
	c, err := trust.ParseCertFile(data)
	if err != nil {
		return nil, err
	}
	if c.Peer != s.Self {
		return nil, fmt.Errorf("the certificate is for peer %s, this node is %s", c.Peer, s.Self)
	}
	if !s.clock().Before(c.Expires) {
		return nil, fmt.Errorf("the certificate for %s expired at %s; ask the org for a new one", c.Org, c.Expires.Format(time.RFC3339))
	}
	if err := os.MkdirAll(filepath.Join(s.Repo, CertsDir), 0o700); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(s.certPath(c.Org), c.EncodePEM(), 0o644); err != nil {
		return nil, fmt.Errorf("install certificate: %w", err)
	}
	return c, nil
}

// Leave removes this node's certificate of org.
func (s *OrgStore) Leave(org string) error {
	if err := checkOrgName(org); err != nil {
		return err
	}
	err := os.Remove(s.certPath(org))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNoSuchCert, org)
	}
	return err
}

// Certs reads this node's certificates, sorted by org. An unreadable file
// is an error naming it.
func (s *OrgStore) Certs() ([]*trust.Cert, error) {
	ents, err := os.ReadDir(filepath.Join(s.Repo, CertsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*trust.Cert
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".cert") {
			continue
		}
		path := filepath.Join(s.Repo, CertsDir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		c, err := trust.ParseCertFile(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Org < out[j].Org })
	return out, nil
}

// Trust makes certificates of org signed by key count on this node.
func (s *OrgStore) Trust(name, key string) error {
	if err := checkOrgName(name); err != nil {
		return err
	}
	k, err := trust.ParsePublicKey(key)
	if err != nil {
		return err
	}
	return s.editConfig(func(c *Config) error {
		if c.Orgs.Trusted == nil {
			c.Orgs.Trusted = map[string]string{}
		}
		c.Orgs.Trusted[name] = trust.FormatPublicKey(k)
		return nil
	})
}

// Untrust stops trusting org.
func (s *OrgStore) Untrust(name string) error {
	return s.editConfig(func(c *Config) error {
		if _, ok := c.Orgs.Trusted[name]; !ok {
			return fmt.Errorf("org %s is not trusted here", name)
		}
		delete(c.Orgs.Trusted, name)
		return nil
	})
}

// Deny adds (or, with remove, takes off) a peer ID or certificate ID on the
// deny-list. It returns the entry in canonical form.
func (s *OrgStore) Deny(id string, remove bool) (string, error) {
	e, err := trust.NormalizeDenyEntry(id)
	if err != nil {
		return "", err
	}
	return e, s.editConfig(func(c *Config) error {
		i := slices.Index(c.Orgs.Deny, e)
		switch {
		case remove && i < 0:
			return fmt.Errorf("%s is not on the deny-list", e)
		case remove:
			c.Orgs.Deny = slices.Delete(c.Orgs.Deny, i, i+1)
		case i < 0:
			c.Orgs.Deny = append(c.Orgs.Deny, e)
		}
		return nil
	})
}

// Info describes the repo's trust state.
func (s *OrgStore) Info() (*OrgInfo, error) {
	c, err := LoadConfig(filepath.Join(s.Repo, ConfigFile))
	if err != nil {
		return nil, err
	}
	info := &OrgInfo{Keys: []OrgKeyInfo{}, Trusted: []OrgKeyInfo{}, Certs: []CertInfo{}, Deny: append([]string{}, c.Orgs.Deny...)}
	keys, err := s.Keys()
	if err != nil {
		return nil, err
	}
	info.Keys = append(info.Keys, keys...)
	for _, n := range slices.Sorted(maps.Keys(c.Orgs.Trusted)) {
		info.Trusted = append(info.Trusted, OrgKeyInfo{Name: n, PublicKey: c.Orgs.Trusted[n]})
	}
	certs, err := s.Certs()
	if err != nil {
		return nil, err
	}
	for _, cert := range certs {
		info.Certs = append(info.Certs, certInfo(cert, s.clock()))
	}
	return info, nil
}
