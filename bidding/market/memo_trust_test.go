package market

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
)

// mapMemo is an in-process record store that the markets of a test share:
// what the DHT holds is node's to test (node/memo_test.go); here, what a
// requester does with what it finds.
type mapMemo struct {
	mu   sync.Mutex
	recs map[cid.Cid][]byte
	put  chan cid.Cid
}

func newMapMemo() *mapMemo {
	return &mapMemo{recs: map[cid.Cid][]byte{}, put: make(chan cid.Cid, 16)}
}

func (m *mapMemo) Network() []byte { return bidding.NetworkID(nil) }

func (m *mapMemo) PutRecord(_ context.Context, job cid.Cid, rec []byte, _ cid.Cid) error {
	m.mu.Lock()
	m.recs[job] = rec
	m.mu.Unlock()
	m.put <- job
	return nil
}

func (m *mapMemo) GetRecord(_ context.Context, job cid.Cid, _ func([]byte) bool) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec, ok := m.recs[job]; ok {
		return rec, nil
	}
	return nil, errors.New("not found")
}

// orgTrust trusts one executor as a member of acme.
type orgTrust struct{ exec peer.ID }

func (orgTrust) Certs() [][]byte         { return nil }
func (orgTrust) Learn(peer.ID, [][]byte) {}
func (o orgTrust) ExecutorOrgs(p peer.ID) []string {
	if p == o.exec {
		return []string{"acme"}
	}
	return nil
}
func (o orgTrust) ReceiptOrgs(p peer.ID, _ [][]byte) []string { return o.ExecutorOrgs(p) }

// TestMemoReuseHonoursReputation: a receipt of a trusted org's executor is
// reused, unless this node's reputation of it says otherwise: a verified
// job of this node outvoted it once, or the executor policy refuses it.
func TestMemoReuseHonoursReputation(t *testing.T) {
	memo := newMapMemo()
	var runs atomic.Int64
	ex := newTestPeer(t, countingRunner(&runs), func(c *Config) { c.Memo = memo })
	spec := testJobSpec("reuse-by-reputation")

	// The first run, on a requester of its own: its record is published.
	first := newTestPeer(t, &testRunner{}, func(c *Config) { c.Memo = memo })
	connect(t, first.h, ex.h)
	waitTopic(t, first.m, 1)
	id, _, err := first.m.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, first.m, id, time.Minute); j.State != Completed || runs.Load() != 1 {
		t.Fatalf("first run: %s (%s), %d runs:\n%s", j.State, j.Error, runs.Load(), eventsText(j))
	}
	select {
	case got := <-memo.put:
		if got != id {
			t.Fatalf("record of %s published, want %s", got, id)
		}
	case <-time.After(time.Minute):
		t.Fatal("no receipt record published")
	}

	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		before func(*Market) // what this requester knows of ex
		reused bool
		why    string
	}{
		{name: "trusted", reused: true},
		{name: "outvoted before", before: func(m *Market) { m.rep.Note(ex.h.ID(), bidding.RepDisagreement, time.Now()) },
			why: "was outvoted by a verified job of this node"},
		{name: "refused by policy", edit: func(c *Config) { c.Executors.RefuseDisagreement = time.Hour },
			before: func(m *Market) { m.rep.Note(ex.h.ID(), bidding.RepDisagreement, time.Now()) },
			why:    "within jobs.refuse_disagreement_days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newTestPeer(t, &testRunner{}, func(c *Config) {
				c.Memo, c.Trust = memo, orgTrust{exec: ex.h.ID()}
				if tc.edit != nil {
					tc.edit(c)
				}
			})
			if tc.before != nil {
				tc.before(req.m)
			}
			connect(t, req.h, ex.h)
			waitTopic(t, req.m, 1)
			was := runs.Load()
			id, _, err := req.m.Submit(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.reused {
				// The receipt is not reused, and the record says why (the
				// job goes on to its round: with the executor refused by
				// policy it finds none, so the test does not wait for it).
				waitEvent(t, req.m, id.String(), "no receipt reused: ")
				j, err := req.m.Jobs().Get(id.String())
				if err != nil {
					t.Fatal(err)
				}
				if events := eventsText(j); !strings.Contains(events, tc.why) {
					t.Fatalf("the job's events do not say %q:\n%s", tc.why, events)
				}
				return
			}
			j := waitJob(t, req.m, id, time.Minute)
			if j.State != Completed || len(j.Receipts) != 1 || !j.Receipts[0].Reused || runs.Load() != was {
				t.Fatalf("%s (%s), receipts %+v, %d new runs, want the receipt reused:\n%s", j.State, j.Error, j.Receipts, runs.Load()-was, eventsText(j))
			}
		})
	}
}
