package market

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

type fakeTrust map[peer.ID][]string

func (f fakeTrust) Certs() [][]byte                 { return [][]byte{[]byte("cert")} }
func (f fakeTrust) Learn(peer.ID, [][]byte)         {}
func (f fakeTrust) ExecutorOrgs(p peer.ID) []string { return f[p] }

type fakePolicy struct{ allow bool }

func (f fakePolicy) Admit(context.Context, AdmitRequest) error { return nil }
func (f fakePolicy) AllowAnnounce(peer.ID, peer.ID) bool       { return f.allow }
func (f fakePolicy) AdmitRequester(context.Context, peer.ID) error {
	return nil
}
func (f fakePolicy) AllowStream(peer.ID, protocol.ID) bool { return f.allow }

func gatePeer(t *testing.T) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return id
}

// Bids and receipts of executors outside constraints.executors.orgs are
// refused; members (as the trust layer resolves them) are eligible.
func TestEligibleExecutors(t *testing.T) {
	member, outsider := gatePeer(t), gatePeer(t)
	spec := &jobspec.Spec{Engine: jobspec.Engine{Wasm: &jobspec.Wasm{Module: cid.MustParse("bafkreieptphnsbsubak6e3qofj7rppi2i5jzxkp5mt76q5frd3n3svjkka")}}}
	spec.Constraints.Executors.Orgs = []string{"acme"}

	g := membership{trust: fakeTrust{member: {"acme"}, outsider: {"globex"}}}
	if !g.eligible(spec, member) || g.eligible(spec, outsider) {
		t.Fatal("org membership not applied to constraints.executors.orgs")
	}
	if got := g.certs(); len(got) != 1 {
		t.Fatalf("certs presented: %d", len(got))
	}
	// Without a trust layer nobody is an org member.
	if (membership{}).eligible(spec, member) {
		t.Fatal("without a trust layer an org constraint admitted a bidder")
	}
	spec.Constraints.Executors.Orgs = nil
	if !(membership{}).eligible(spec, outsider) {
		t.Fatal("a job without constraints refused a bidder")
	}
}

// Over-rate announcements are ignored, never rejected: honest relays and
// briefly bursting requesters keep their gossip score.
func TestAnnounceRate(t *testing.T) {
	author, relay := gatePeer(t), gatePeer(t)
	for _, tc := range []struct {
		policy Policy
		want   verdict
	}{
		{nil, verdictAccept},
		{fakePolicy{allow: true}, verdictAccept},
		{fakePolicy{allow: false}, verdictIgnore},
	} {
		ex := newExecutor(executorConfig{Policy: tc.policy, Slots: 1, QueueLimit: 1}, gatePeer(t), nil, nil)
		for _, from := range []peer.ID{author, relay} {
			if got := ex.announceRate(from, author); got != tc.want {
				t.Fatalf("policy %v, from %s: %v, want %v", tc.policy, from, got, tc.want)
			}
			if got, want := ex.announceRate(from, author).pubsub(), map[verdict]pubsub.ValidationResult{verdictAccept: pubsub.ValidationAccept, verdictIgnore: pubsub.ValidationIgnore}[tc.want]; got != want {
				t.Fatalf("policy %v, from %s: gossipsub sees %v, want %v", tc.policy, from, got, want)
			}
		}
	}
}
