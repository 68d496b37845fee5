package market

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
)

// TestReputationsPersist: what a requester saw of executors survives a
// reopen of its datastore (a restart of the node), the worst first.
func TestReputationsPersist(t *testing.T) {
	ctx := context.Background()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	r, err := openReputations(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	liar, good := newPeerID(t), newPeerID(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r.Note(good, bidding.RepCompleted, now)
	r.Note(good, bidding.RepAgreement, now)
	r.Note(liar, bidding.RepCompleted, now)
	r.Note(liar, bidding.RepDisagreement, now.Add(time.Hour))
	r.Note(liar, bidding.RepTimeout, now)
	again, err := openReputations(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	l := again.Get(liar)
	if l.Completed != 1 || l.Disagreements != 1 || l.Timeouts != 1 || !l.LastSeen.Equal(now.Add(time.Hour)) || !l.LastDisagreement.Equal(now.Add(time.Hour)) {
		t.Fatalf("liar after reopen: %+v", l)
	}
	if got := again.Score(good); got != bidding.RepWeightCompleted+bidding.RepWeightAgreement {
		t.Fatalf("good score %d", got)
	}
	list := again.List()
	if len(list) != 2 || list[0].Peer != liar.String() || list[0].Score >= 0 {
		t.Fatalf("list %+v", list)
	}
}

// TestExecutorPolicy: jobs.min_reputation and
// jobs.refuse_disagreement_days refuse what they say, and only that.
func TestExecutorPolicy(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	zero := 0
	liar := bidding.Reputation{Completed: 20, Disagreements: 1, LastDisagreement: now.Add(-48 * time.Hour)}
	fresh := bidding.Reputation{}
	tests := []struct {
		name string
		pol  ExecutorPolicy
		rep  bidding.Reputation
		want string
	}{
		{"no policy", ExecutorPolicy{}, liar, ""},
		{"min 0 refuses a negative score", ExecutorPolicy{MinReputation: &zero}, liar, "below jobs.min_reputation 0"},
		{"min 0 takes a new node", ExecutorPolicy{MinReputation: &zero}, fresh, ""},
		{"disagreement within 3 days", ExecutorPolicy{RefuseDisagreement: 72 * time.Hour}, liar, "outvoted its receipt"},
		{"disagreement before 1 day", ExecutorPolicy{RefuseDisagreement: 24 * time.Hour}, liar, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.pol.refuse(tt.rep, now)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("refuse = %q, want %q", got, tt.want)
			}
		})
	}
}

func newPeerID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
