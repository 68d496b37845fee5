package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/bidding/trust"
	"github.com/shoalnet/shoal/internal/logging"
	"github.com/shoalnet/shoal/p2p"
)

// errNoTrustRepo: trust operations on a node without a repo.
var errNoTrustRepo = errors.New("this node has no repo: org keys and certificates live in a repo")

// Lookups of a requester's capability record, for its certificates, when
// an award arrives from a peer whose certificates this node has not seen.
const (
	certLookupTimeout = 3 * time.Second
	certLookupBackoff = time.Minute // after a failed lookup of a peer
)

// guard is the node's trust layer and admission policy: it implements the
// market's Trust and Policy on top of packages trust and policy, holds the
// abuse limits, and reloads them when the operator changes them.
type guard struct {
	self  peer.ID
	store *OrgStore // nil without a repo
	log   *slog.Logger

	mu      sync.Mutex // serializes changes
	pol     atomic.Pointer[policy.Policy]
	limiter atomic.Pointer[policy.Limiter]
	own     atomic.Pointer[[]*trust.Cert]
	dir     *trust.Directory // what peers presented
	selfDir *trust.Directory // this node's own certificates, never evicted
	abuse   *abuse

	// lookup fetches a peer's certificates from its capability record.
	lookup func(context.Context, peer.ID) ([][]byte, error)
	lookMu sync.Mutex
	failed map[peer.ID]time.Time
}

var (
	_ market.Trust  = (*guard)(nil)
	_ market.Policy = (*guard)(nil)
)

func newGuard(n *Node, cfg *Config) (*guard, error) {
	g := &guard{self: n.ID(), log: logging.Logger("policy"), dir: trust.NewDirectory(nil, 0), selfDir: trust.NewDirectory(nil, 1), failed: map[peer.ID]time.Time{}}
	if n.repoPath != "" {
		g.store = &OrgStore{Repo: n.repoPath, Self: n.ID()}
	}
	g.lookup = func(ctx context.Context, p peer.ID) ([][]byte, error) {
		c, err := p2p.GetCapabilities(ctx, n.DHT, p)
		if err != nil {
			return nil, err
		}
		return c.Certs, nil
	}
	g.abuse = newAbuse(cfg.Policy.Abuse)
	g.abuse.metrics = n.Metrics
	g.setPolicy(&cfg.Policy)
	if err := g.reloadTrust(cfg.Orgs); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *guard) setPolicy(p *policy.Policy) {
	cp := *p
	g.pol.Store(&cp)
	g.limiter.Store(policy.NewLimiter(&cp))
	g.abuse.setLimits(cp.Abuse)
}

// reloadTrust rebuilds the roots from orgs and re-reads this node's
// certificates.
func (g *guard) reloadTrust(orgs OrgsConfig) error {
	roots, err := trust.NewRoots(orgs.Trusted, orgs.Deny)
	if err != nil {
		return err
	}
	var own []*trust.Cert
	if g.store != nil {
		if own, err = g.store.Certs(); err != nil {
			return err
		}
	}
	g.dir.SetRoots(roots)
	g.selfDir.SetRoots(roots)
	g.own.Store(&own)
	var raw [][]byte
	for _, c := range own {
		raw = append(raw, c.Bytes())
	}
	g.selfDir.Learn(g.self, raw)
	return nil
}

// logPolicy writes the effective policy to the log, one field per rule.
func (g *guard) logPolicy(engines []string, msg string) {
	args := []any{}
	for _, l := range g.pol.Load().Describe(engines) {
		args = append(args, l.Key, l.Value)
	}
	roots := g.dir.Roots()
	args = append(args, "trusted orgs", roots.Orgs(), "deny-list", len(roots.Deny()))
	var mine []string
	for _, c := range *g.own.Load() {
		mine = append(mine, fmt.Sprintf("%s (%s)", c.Org, c.Role))
	}
	args = append(args, "memberships", mine)
	g.log.Info(msg, args...)
}

// Certs implements market.Trust: this node's certificates, unexpired ones
// first. Expired ones are presented too (up to bidding.MaxCerts in all):
// they count for nothing, but let a bidder tell the requester that its
// membership expired rather than that it has none.
func (g *guard) Certs() [][]byte {
	if g == nil {
		return nil
	}
	now := time.Now()
	var live, expired [][]byte
	for _, c := range *g.own.Load() {
		if now.Before(c.Expires) {
			live = append(live, c.Bytes())
		} else {
			expired = append(expired, c.Bytes())
		}
	}
	c := append(live, expired...)
	if len(c) > bidding.MaxCerts {
		c = c[:bidding.MaxCerts]
	}
	return c
}

// Learn implements market.Trust.
func (g *guard) Learn(p peer.ID, certs [][]byte) {
	if p != g.self {
		g.dir.Learn(p, certs)
	}
}

// ExecutorOrgs implements market.Trust.
func (g *guard) ExecutorOrgs(p peer.ID) []string {
	d := g.dir
	if p == g.self {
		d = g.selfDir
	}
	orgs, _ := d.Members(p, trust.RoleExecutor)
	return orgs
}

// Admit implements market.Policy.
func (g *guard) Admit(ctx context.Context, r market.AdmitRequest) error {
	pol := g.pol.Load()
	req := policy.Request{Requester: r.Requester, Self: r.Requester == g.self, Spec: r.Spec, Running: r.Running}
	if r.View != nil {
		req.Local = r.View.LocalBytes
	}
	if !req.Self && len(pol.Requesters.Orgs) > 0 {
		if r.Award && !g.dir.Known(r.Requester) {
			g.fetchCerts(ctx, r.Requester)
		}
		req.Orgs, req.OrgProblems = g.dir.Members(r.Requester, trust.RoleRequester)
	}
	if ref := pol.Check(req); ref != nil {
		return ref
	}
	if !req.Self {
		if ref := g.limiter.Load().Check(r.Requester, time.Now(), r.Award); ref != nil {
			return ref
		}
	}
	return nil
}

// AdmitRequester implements market.Policy: the allow-list and the rate of
// requester, from the certificates it presented (no lookup: this runs for
// every announcement by CID, before its spec is fetched). The rate is
// peeked, not taken: Admit takes it.
func (g *guard) AdmitRequester(ctx context.Context, requester peer.ID) error {
	if requester == g.self {
		return nil
	}
	pol := g.pol.Load()
	req := policy.Request{Requester: requester}
	if len(pol.Requesters.Orgs) > 0 {
		req.Orgs, req.OrgProblems = g.dir.Members(requester, trust.RoleRequester)
	}
	if ref := pol.CheckRequester(req); ref != nil {
		return ref
	}
	if ref := g.limiter.Load().Check(requester, time.Now(), false); ref != nil {
		return ref
	}
	return nil
}

// fetchCerts learns p's certificates from its capability record (an award
// from a requester whose announce this node did not see, for example after
// a restart). Failures are remembered for a minute, so a stream of awards
// cannot turn into a stream of DHT lookups.
func (g *guard) fetchCerts(ctx context.Context, p peer.ID) {
	g.lookMu.Lock()
	if t, ok := g.failed[p]; ok && time.Since(t) < certLookupBackoff {
		g.lookMu.Unlock()
		return
	}
	g.lookMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, certLookupTimeout)
	defer cancel()
	certs, err := g.lookup(ctx, p)
	if err != nil || len(certs) == 0 {
		g.lookMu.Lock()
		if len(g.failed) > 4096 {
			g.failed = map[peer.ID]time.Time{}
		}
		g.failed[p] = time.Now()
		g.lookMu.Unlock()
		return
	}
	g.dir.Learn(p, certs)
}

// AllowAnnounce implements market.Policy.
func (g *guard) AllowAnnounce(author, from peer.ID) bool { return g.abuse.allowAnnounce(author) }

// AllowStream implements market.Policy: bid streams are rate limited per
// peer; the other protocols are bounded by the resource manager.
func (g *guard) AllowStream(p peer.ID, proto protocol.ID) bool {
	if proto != bidding.ProtocolBid {
		return true
	}
	return g.abuse.allowStream(p)
}

// Policy returns the node's effective admission policy.
func (n *Node) Policy() policy.Policy { return *n.guard.pol.Load() }

// PolicyLines describes the effective policy for humans.
func (n *Node) PolicyLines() []policy.Line { return n.guard.pol.Load().Describe(n.engines) }

// SetPolicy validates p, writes it to the repo's config (when the node has
// a repo) and applies it at once: jobs bid on or awarded from now on are
// judged by it.
func (n *Node) SetPolicy(p *policy.Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	g := n.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.store != nil {
		err := g.store.editConfig(func(c *Config) error {
			c.Policy = *p
			return nil
		})
		if err != nil {
			return err
		}
	}
	n.cfg.Policy = *p
	g.setPolicy(p)
	g.logPolicy(n.engines, "admission policy changed")
	return nil
}

// OrgStore returns the repo's trust state on disk (nil without a repo).
// Change it through UpdateOrgs so the node applies the change.
func (n *Node) OrgStore() *OrgStore { return n.guard.store }

// UpdateOrgs runs fn on the repo's trust state, then reloads the trusted
// orgs, the deny-list and this node's certificates (republishing its
// capability record when they changed).
func (n *Node) UpdateOrgs(fn func(*OrgStore) error) error {
	g := n.guard
	if g.store == nil {
		return errNoTrustRepo
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	before := len(g.Certs())
	if err := fn(g.store); err != nil {
		return err
	}
	c, err := LoadConfig(filepath.Join(g.store.Repo, ConfigFile))
	if err != nil {
		return err
	}
	if err := g.reloadTrust(c.Orgs); err != nil {
		return err
	}
	n.cfg.Orgs = c.Orgs
	if n.caps != nil && (before > 0 || len(g.Certs()) > 0) {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
			defer cancel()
			if err := n.caps.PublishNow(ctx); err != nil {
				log.Debug("capability record not republished", "err", err)
			}
		}()
	}
	return nil
}

// OrgInfo describes the node's trust state.
func (n *Node) OrgInfo() (*OrgInfo, error) {
	if n.guard.store == nil {
		return nil, errNoTrustRepo
	}
	return n.guard.store.Info()
}

// TrustRoots lists the trusted orgs and the deny-list in effect.
func (n *Node) TrustRoots() (orgs, deny []string) {
	r := n.guard.dir.Roots()
	return r.Orgs(), r.Deny()
}

// PeerAbuse lists how peers fare under the abuse limits, worst first,
// each with its reputation as an executor of this node's jobs; then the
// executors of a reputation and no abuse record, the lowest score first.
func (n *Node) PeerAbuse() []PeerAbuse {
	out := n.guard.abuse.stats()
	if n.Market == nil {
		return out
	}
	at := map[string]int{}
	for i := range out {
		at[out[i].Peer] = i
	}
	for _, r := range n.Market.Reputations().List() {
		r := r
		if i, ok := at[r.Peer]; ok {
			out[i].Reputation = &r
			continue
		}
		out = append(out, PeerAbuse{Peer: r.Peer, Reputation: &r})
	}
	return out
}

// SetRepoPolicy writes p into the config of the repo at dir, for a repo no
// daemon holds (the caller holds its lock). A running daemon takes a new
// policy through Node.SetPolicy instead.
func SetRepoPolicy(dir string, p *policy.Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s := &OrgStore{Repo: dir}
	return s.editConfig(func(c *Config) error {
		c.Policy = *p
		return nil
	})
}
