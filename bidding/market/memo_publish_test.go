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

// A run shorter than MemoMinRun keeps its record in the memo cache and
// publishes nothing; with no bound the same run is published.
func TestMemoMinRun(t *testing.T) {
	for _, c := range []struct {
		name    string
		minRun  time.Duration
		publish bool
	}{
		{"shorter than the bound", time.Hour, false},
		{"no bound", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			memo := &stuckMemo{started: make(chan cid.Cid, 1), release: make(chan struct{})}
			defer close(memo.release)
			h := newExecHarness(t, true, func(e *executorConfig) { e.Memo, e.MemoMinRun = memo, c.minRun })
			a := h.newAward(t, "min-run")
			conn := h.send(t, h.ex.serveAward, h.req, a)
			for {
				if rc, ok := answer(t, conn).(*bidding.Receipt); ok {
					if rc.ErrorCode != "" {
						t.Fatalf("run: %s %s", rc.ErrorCode, rc.Error)
					}
					break
				}
			}
			if c.publish {
				select {
				case j := <-memo.started:
					if j != a.JobCID {
						t.Fatalf("published %s, want %s", j, a.JobCID)
					}
				case <-time.After(time.Minute):
					t.Fatal("the record was not published")
				}
				if n := h.ex.memoShort.Load(); n != 0 {
					t.Fatalf("%d runs counted short with no bound", n)
				}
				return
			}
			waitFor(t, "the run to be counted short", func() bool { return h.ex.memoShort.Load() == 1 })
			select {
			case j := <-memo.started:
				t.Fatalf("record of %s published; the run is under MemoMinRun", j)
			default:
			}
			if h.ex.memo.get(a.JobCID) == nil {
				t.Fatal("the record is not in the memo cache")
			}
		})
	}
}
