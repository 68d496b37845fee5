package market

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/shoalnet/shoal/bidding"
)

// awardRecord is the executor's durable record of an accepted award: the
// source of truth for what this node ran.
type awardRecord struct {
	ID        string             `json:"id"`
	Job       string             `json:"job"`
	Requester string             `json:"requester"`
	State     bidding.AwardState `json:"state"`
	Accepted  time.Time          `json:"accepted"`
	Expires   time.Time          `json:"expires"`
	// Receipt is the signed receipt block once the award is terminal.
	Receipt []byte `json:"receipt,omitempty"`
}

// awardStore persists accepted awards. Records are written before the
// Accept is sent and when the receipt is made. Only awards in progress stay
// in memory; finished ones are read back from the datastore when queried.
//
// The write and sync of a record run under that award's lock (keeping one
// award's writes in order), not under mu: concurrent awards share one WAL
// sync instead of queueing behind each other's.
type awardStore struct {
	d     ds.Datastore
	locks keyLocks
	mu    sync.Mutex
	m     map[string]*awardRecord // awards not finished
	// ids of every award found at open, for the replay filter.
	ids []seenAward
}

func openAwardStore(ctx context.Context, d ds.Datastore) (*awardStore, error) {
	s := &awardStore{d: d, m: map[string]*awardRecord{}}
	res, err := d.Query(ctx, query.Query{})
	if err != nil {
		return nil, fmt.Errorf("load awards: %w", err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return nil, fmt.Errorf("load awards: %w", r.Error)
		}
		var a awardRecord
		if err := json.Unmarshal(r.Value, &a); err != nil {
			return nil, fmt.Errorf("award record %s is corrupt: %w", r.Key, err)
		}
		if !a.State.Terminal() {
			s.m[a.ID] = &a
		}
		if id, err := bidding.ParseAwardID(a.ID); err == nil {
			s.ids = append(s.ids, seenAward{id, a.Expires})
		}
	}
	return s, nil
}

type seenAward struct {
	id      bidding.AwardID
	expires time.Time
}

func (s *awardStore) get(id string) (*awardRecord, bool) {
	s.mu.Lock()
	a, ok := s.m[id]
	s.mu.Unlock()
	if ok {
		c := *a
		return &c, true
	}
	b, err := s.d.Get(context.Background(), ds.NewKey(id))
	if err != nil {
		return nil, false
	}
	var r awardRecord
	if json.Unmarshal(b, &r) != nil {
		return nil, false
	}
	return &r, true
}

func (s *awardStore) put(ctx context.Context, a *awardRecord) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	defer s.locks.lock(a.ID)()
	if err := s.d.Put(ctx, ds.NewKey(a.ID), b); err != nil {
		return fmt.Errorf("persist award %s: %w", a.ID, err)
	}
	if err := s.d.Sync(ctx, ds.NewKey(a.ID)); err != nil {
		return fmt.Errorf("sync award %s: %w", a.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.State.Terminal() {
		delete(s.m, a.ID)
	} else {
		c := *a
		s.m[a.ID] = &c
	}
	return nil
}

// failInterrupted gives every award that was in progress when the node
// stopped a receipt saying so (a retryable failure), so that its requester
// re-awards the job instead of waiting.
func (s *awardStore) failInterrupted(ctx context.Context, ex *executor) {
	s.mu.Lock()
	var open []*awardRecord
	for _, a := range s.m {
		c := *a
		open = append(open, &c)
	}
	for _, x := range s.ids {
		ex.dedup.Remember(x.id, x.expires, ex.now())
	}
	s.ids = nil
	s.mu.Unlock()
	for _, a := range open {
		rc, err := ex.interruptedReceipt(a)
		if err != nil {
			ex.log.Warn("cannot close interrupted award", "award", a.ID, "err", err)
			continue
		}
		a.State, a.Receipt = bidding.AwardFailed, rc
		if err := s.put(ctx, a); err != nil {
			ex.log.Warn("cannot close interrupted award", "award", a.ID, "err", err)
		}
	}
}
