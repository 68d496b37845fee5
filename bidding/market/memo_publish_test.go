package market

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding"
)

// stuckMemo is a DHT that never finishes a put (until released or the
// executor stops): the fault of a slow network, which a test cannot
// cause on loopback.
type stuckMemo struct {
	started chan cid.Cid
	release chan struct{}
}

func (m *stuckMemo) Network() []byte { return bidding.NetworkID(nil) }

func (m *stuckMemo) PutRecord(ctx context.Context, job cid.Cid, _ []byte, _ cid.Cid) error {
	m.started <- job
	select {
	case <-m.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *stuckMemo) GetRecord(context.Context, cid.Cid, func([]byte) bool) ([]byte, error) {
	return nil, nil
}

// With the DHT stuck, an executor publishes at most memoMaxPublishing
// records at once; the runs past that still complete, their records stay
// in the memo cache, and the drops are counted.
func TestMemoPublishingBounded(t *testing.T) {
	const extra = 3
	memo := &stuckMemo{started: make(chan cid.Cid, memoMaxPublishing+extra), release: make(chan struct{})}
	defer close(memo.release)
	h := newExecHarness(t, true, func(c *executorConfig) { c.Memo = memo; c.Logger = slog.New(slog.NewTextHandler(t.Output(), nil)) })
	for i := range memoMaxPublishing + extra {
		a := h.newAward(t, fmt.Sprintf("publish-%d", i))
		c := h.send(t, h.ex.serveAward, h.req, a)
		for {
			msg := answer(t, c)
			if rc, ok := msg.(*bidding.Receipt); ok {
				if rc.ErrorCode != "" {
					t.Fatalf("run %d: %s %s", i, rc.ErrorCode, rc.Error)
				}
				break
			}
			if d, ok := msg.(*bidding.Decline); ok {
				t.Fatalf("run %d declined: %s %s", i, d.Code, d.Reason)
			}
		}
		if h.ex.memo.get(a.JobCID) == nil {
			t.Fatalf("run %d: its record is not in the memo cache", i)
		}
	}
	for range memoMaxPublishing {
		select {
		case <-memo.started:
		case <-time.After(time.Minute):
			t.Fatal("fewer publications started than the bound")
		}
	}
	if n := h.ex.memoDrops.Load(); n != extra {
		t.Fatalf("%d records dropped, want %d", n, extra)
	}
	select {
	case j := <-memo.started:
		t.Fatalf("publication of %s started past the bound of %d", j, memoMaxPublishing)
	default:
	}
}
