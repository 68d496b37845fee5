package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/market"
	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/bidding/trust"
	"github.com/shoalnet/shoal/internal/logging"
)

func newPeer(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id
}

// testRepo initializes a repo and returns its OrgStore.
func testRepo(t *testing.T) *OrgStore {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	cfg, err := Init(dir, InitOptions{Profile: ProfileLocal})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.Decode(cfg.Identity.PeerID)
	return &OrgStore{Repo: dir, Self: id}
}

func TestOrgStore(t *testing.T) {
	admin, member := testRepo(t), testRepo(t)
	pub, err := admin.Init("acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Init("acme"); !errors.Is(err, ErrOrgExists) {
		t.Fatalf("second init: %v", err)
	}
	st, err := os.Stat(filepath.Join(admin.Repo, OrgKeysDir, "acme.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("org key file: %v, mode %v", err, st.Mode())
	}
	if _, err := member.Issue("acme", admin.Self, trust.RoleBoth, 0); !errors.Is(err, ErrNoOrgKey) {
		t.Fatalf("issue without the key: %v", err)
	}
	c, err := admin.Issue("acme", member.Self, trust.RoleExecutor, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Join(c.EncodePEM()); err == nil || !strings.Contains(err.Error(), "is for peer") {
		t.Fatalf("joining another peer's certificate: %v", err)
	}
	if _, err := member.Join(c.EncodePEM()); err != nil {
		t.Fatal(err)
	}
	short, _ := admin.Issue("acme", member.Self, trust.RoleBoth, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if _, err := member.Join(short.EncodePEM()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("joining an expired certificate: %v", err)
	}
	if err := member.Trust("acme", pub); err != nil {
		t.Fatal(err)
	}
	if err := member.Trust("acme", "nonsense"); err == nil {
		t.Fatal("trusted an unreadable key")
	}
	entry, err := member.Deny(admin.Self.String(), false)
	if err != nil || entry != admin.Self.String() {
		t.Fatalf("deny: %q %v", entry, err)
	}
	info, err := member.Info()
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Certs) != 1 || info.Certs[0].Org != "acme" || info.Certs[0].Role != "executor" ||
		len(info.Trusted) != 1 || info.Trusted[0].PublicKey != pub || !reflect.DeepEqual(info.Deny, []string{admin.Self.String()}) {
		t.Fatalf("info = %+v", info)
	}
	if _, err := member.Deny(admin.Self.String(), true); err != nil {
		t.Fatal(err)
	}
	if err := member.Leave("acme"); err != nil {
		t.Fatal(err)
	}
	if err := member.Leave("acme"); !errors.Is(err, ErrNoSuchCert) {
		t.Fatalf("second leave: %v", err)
	}
	if err := member.Untrust("acme"); err != nil {
		t.Fatal(err)
	}
	// The config still loads: the trust section is valid.
	if _, err := LoadConfig(filepath.Join(member.Repo, ConfigFile)); err != nil {
		t.Fatal(err)
	}
}

func testGuard(t *testing.T, self peer.ID, pol string, orgs OrgsConfig) *guard {
	t.Helper()
	p, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	g := &guard{self: self, log: logging.Logger("policy"), dir: trust.NewDirectory(nil, 0), selfDir: trust.NewDirectory(nil, 1),
		failed: map[peer.ID]time.Time{}, abuse: newAbuse(p.Abuse)}
	g.lookup = func(context.Context, peer.ID) ([][]byte, error) { return nil, errors.New("no DHT in this test") }
	g.setPolicy(p)
	if err := g.reloadTrust(orgs); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGuardAdmit(t *testing.T) {
	orgKey, _ := newPeer(t)
	_, self := newPeer(t)
	_, req := newPeer(t)
	orgs := OrgsConfig{Trusted: map[string]string{"acme": trust.FormatPublicKey(orgKey.GetPublic())}}
	g := testGuard(t, self, `{"requesters":{"orgs":["acme"]},"per_requester":{"jobs_per_minute":1}}`, orgs)
	spec := &jobspec.Spec{Engine: jobspec.Engine{Wasm: &jobspec.Wasm{Module: cid.MustParse("bafkreieptphnsbsubak6e3qofj7rppi2i5jzxkp5mt76q5frd3n3svjkka")}}}
	admit := func(p peer.ID, award bool) *bidding.Refusal {
		err := g.Admit(context.Background(), market.AdmitRequest{Spec: spec, Requester: p, Award: award})
		if err == nil {
			return nil
		}
		var r *bidding.Refusal
		if !errors.As(err, &r) {
			t.Fatalf("Admit returned %v, not a refusal", err)
		}
		return r
	}
	if r := admit(req, false); r == nil || r.Code != bidding.CodeRequesterDenied || !strings.Contains(r.Reason, "no certificate presented") {
		t.Fatalf("no certificate: %v", r)
	}
	if r := admit(self, false); r != nil {
		t.Fatalf("this node's own job refused: %v", r)
	}

	// An award from a requester never seen: its capability record is looked
	// up once; a failed lookup is not repeated for a minute.
	c, err := trust.Issue(orgKey, "acme", req, trust.RoleRequester, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lookups := 0
	g.lookup = func(context.Context, peer.ID) ([][]byte, error) { lookups++; return nil, errors.New("not found") }
	admit(req, true)
	admit(req, true)
	if lookups != 1 {
		t.Fatalf("%d lookups after two awards of an unknown requester, want 1", lookups)
	}
	g.failed = map[peer.ID]time.Time{}
	g.lookup = func(context.Context, peer.ID) ([][]byte, error) { lookups++; return [][]byte{c.Bytes()}, nil }
	if r := admit(req, true); r != nil {
		t.Fatalf("award from a member found in the DHT: %v", r)
	}
	// The rate: bids do not consume it, the award above did.
	if r := admit(req, false); r == nil || r.Code != bidding.CodeRateLimited {
		t.Fatalf("after one award with 1 job per minute: %v, want rate_limited", r)
	}
	// A new policy applies at once.
	g.setPolicy(&policy.Policy{})
	if r := admit(req, true); r != nil {
		t.Fatalf("open policy: %v", r)
	}
}

func TestGuardPresentsOwnCerts(t *testing.T) {
	store := testRepo(t)
	if _, err := store.Init("acme"); err != nil {
		t.Fatal(err)
	}
	live, _ := store.Issue("acme", store.Self, trust.RoleExecutor, time.Hour)
	if _, err := store.Join(live.EncodePEM()); err != nil {
		t.Fatal(err)
	}
	c, _ := LoadConfig(filepath.Join(store.Repo, ConfigFile))
	g := testGuard(t, store.Self, `{}`, OrgsConfig{})
	g.store = store
	if err := g.reloadTrust(c.Orgs); err != nil {
		t.Fatal(err)
	}
	if got := g.Certs(); len(got) != 1 || string(got[0]) != string(live.Bytes()) {
		t.Fatalf("presented %d certificates, want the one installed", len(got))
	}
	if orgs := g.ExecutorOrgs(store.Self); !reflect.DeepEqual(orgs, []string{"acme"}) {
		t.Fatalf("own executor orgs = %v", orgs)
	}
}

func TestAbuseScore(t *testing.T) {
	_, p := newPeer(t)
	a := newAbuse(policy.Abuse{AnnouncesPerSecond: 1, AnnounceBurst: 1})
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	if !a.allowAnnounce(p) {
		t.Fatal("the first announcement was refused")
	}
	if a.allowance < 30 || a.allowance > 40 {
		t.Fatalf("allowance %v at 1/s, want 5 × 1/s × 5 s / ln 2 ≈ 36", a.allowance)
	}
	for range int(a.allowance) {
		a.allowAnnounce(p)
	}
	if s := a.appScore(p); s != 0 {
		t.Fatalf("score %v within the allowance, want 0", s)
	}
	for range 400 {
		a.allowAnnounce(p)
	}
	if s := a.appScore(p); s > graylistThreshold {
		t.Fatalf("score %v after 400 over the allowance, want graylisted (≤ %d)", s, graylistThreshold)
	}
	now = now.Add(5 * abuseHalfLife)
	if s := a.appScore(p); s != 0 {
		t.Fatalf("score %v after five half-lives, want forgiven", s)
	}
	// Refused streams are counted, not scored.
	b := newAbuse(policy.Abuse{BidStreamsPerSecond: 1, BidStreamBurst: 1})
	b.now = a.now
	for range 2000 {
		b.allowStream(p)
	}
	if st := b.stats(); len(st) != 1 || st[0].StreamsRefused != 1999 || b.appScore(p) != 0 {
		t.Fatalf("stream stats %+v, score %v", st, b.appScore(p))
	}
}
