package market

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
)

// Reputations keep the bidding.Reputation of every executor this node
// used as requester, in memory and under /reputation/<peer ID> of the
// node's datastore (the repo: it survives a restart). Safe for concurrent
// use.
type Reputations struct {
	d   ds.Datastore
	mu  sync.Mutex
	all map[peer.ID]bidding.Reputation
}

// maxReputations bounds the executors remembered (the oldest seen goes).
const maxReputations = 10000

func openReputations(ctx context.Context, d ds.Datastore) (*Reputations, error) {
	r := &Reputations{d: d, all: map[peer.ID]bidding.Reputation{}}
	res, err := d.Query(ctx, query.Query{})
	if err != nil {
		return nil, fmt.Errorf("load reputations: %w", err)
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return nil, fmt.Errorf("load reputations: %w", e.Error)
		}
		p, err := peer.Decode(ds.RawKey(e.Key).BaseNamespace())
		if err != nil {
			continue
		}
		var rep bidding.Reputation
		if json.Unmarshal(e.Value, &rep) == nil {
			r.all[p] = rep
		}
	}
	return r, nil
}

// Note adds an event of executor p and writes its record.
func (r *Reputations) Note(p peer.ID, ev bidding.RepEvent, now time.Time) {
	if p == "" {
		return
	}
	r.mu.Lock()
	rep := r.all[p]
	rep.Note(ev, now)
	r.all[p] = rep
	if len(r.all) > maxReputations {
		r.evictLocked()
	}
	b, _ := json.Marshal(rep)
	r.mu.Unlock()
	_ = r.d.Put(context.Background(), ds.NewKey(p.String()), b)
}

func (r *Reputations) evictLocked() {
	var old peer.ID
	var at time.Time
	for p, rep := range r.all {
		if old == "" || rep.LastSeen.Before(at) {
			old, at = p, rep.LastSeen
		}
	}
	delete(r.all, old)
	_ = r.d.Delete(context.Background(), ds.NewKey(old.String()))
}

// Get returns p's record (zero when never used).
func (r *Reputations) Get(p peer.ID) bidding.Reputation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all[p]
}

// Score is p's bidding.Reputation.Score.
func (r *Reputations) Score(p peer.ID) int { return r.Get(p).Score() }

// PeerReputation is one executor's record.
type PeerReputation struct {
	Peer string `json:"peer"`
	bidding.Reputation
	Score int `json:"score"`
}

// List returns every record, the lowest score first.
func (r *Reputations) List() []PeerReputation {
	r.mu.Lock()
	out := make([]PeerReputation, 0, len(r.all))
	for p, rep := range r.all {
		out = append(out, PeerReputation{Peer: p.String(), Reputation: rep, Score: rep.Score()})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, k int) bool {
		if out[i].Score != out[k].Score {
			return out[i].Score < out[k].Score
		}
		return out[i].Peer < out[k].Peer
	})
	return out
}

// ExecutorPolicy is what a requester refuses of executors by their
// reputation (node config jobs.min_reputation and
// jobs.refuse_disagreement_days).
type ExecutorPolicy struct {
	// MinReputation, when set, is the lowest score awarded.
	MinReputation *int
	// RefuseDisagreement, when more than 0, refuses executors outvoted
	// within it.
	RefuseDisagreement time.Duration
}

// refuse says why p's bid is ignored by policy ("" when it is not).
func (pol ExecutorPolicy) refuse(rep bidding.Reputation, now time.Time) string {
	if pol.MinReputation != nil && rep.Score() < *pol.MinReputation {
		return fmt.Sprintf("its reputation %d is below jobs.min_reputation %d", rep.Score(), *pol.MinReputation)
	}
	if pol.RefuseDisagreement > 0 && rep.DisagreedWithin(pol.RefuseDisagreement, now) {
		return fmt.Sprintf("a verified job outvoted its receipt on %s, within jobs.refuse_disagreement_days", rep.LastDisagreement.UTC().Format(time.RFC3339))
	}
	return ""
}
