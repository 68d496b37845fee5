package market

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/shoalnet/shoal/bidding"
)

// longPolicy refuses every requester with a plain error of a given text.
type longPolicy struct{ fakePolicy }

func (p longPolicy) AdmitRequester(context.Context, peer.ID) error {
	return errors.New(straddle(bidding.MaxReasonLen))
}

// straddle returns a text whose 2-byte rune "é" starts at byte limit-1,
// so that a cut at limit bytes splits it.
func straddle(limit int) string {
	return strings.Repeat("a", limit-1) + "é and more after the limit"
}

// A receipt error or decline reason longer than its limit, with a
// multi-byte rune across the limit, is cut on a rune boundary: the message
// still seals and is sent. (Cut at the byte count, it was invalid UTF-8,
// Seal refused it, no receipt was sent and the requester failed over.)
func TestTruncatedTextIsSent(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	requester := gatePeer(t)
	job, err := cid.V1Builder{Codec: cid.DagCBOR, MhType: mh.SHA2_256}.Sum([]byte("job"))
	if err != nil {
		t.Fatal(err)
	}
	ex := newExecutor(executorConfig{Key: key, Policy: longPolicy{}, Slots: 1, QueueLimit: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, self, nil, nil)
	tr := &transport{key: key, self: self}
	now := time.Now()

	t.Run("receipt error", func(t *testing.T) {
		rc := &bidding.Receipt{Version: bidding.WireVersion, JobCID: job, AwardID: bidding.NewAwardID(), Requester: requester, Executor: self, StartedAt: now, FinishedAt: now}
		failReceipt(rc, bidding.CodeEngineError, "%s", straddle(bidding.MaxErrorLen))
		got := sendAndOpen(t, tr, rc).(*bidding.Receipt)
		if want := strings.Repeat("a", bidding.MaxErrorLen-1); got.Error != want {
			t.Errorf("Error = %q (%d bytes), want %d bytes of 'a'", got.Error, len(got.Error), len(want))
		}
	})
	t.Run("decline reason", func(t *testing.T) {
		r := ex.requesterRefusal(context.Background(), job, requester)
		if r == nil {
			t.Fatal("policy refusal missing")
		}
		got := sendAndOpen(t, tr, bidding.NewDecline(job, bidding.AwardID{}, self, r, now)).(*bidding.Decline)
		if want := strings.Repeat("a", bidding.MaxReasonLen-1); got.Reason != want {
			t.Errorf("Reason = %q (%d bytes), want %d bytes of 'a'", got.Reason, len(got.Reason), len(want))
		}
	})
}

// sendAndOpen sends msg through the transport's real send path and opens
// the frame as a peer would.
func sendAndOpen(t *testing.T, tr *transport, msg bidding.Message) bidding.Message {
	t.Helper()
	var buf bytes.Buffer
	if err := tr.send(&buf, msg); err != nil {
		t.Fatalf("send %s: %v", msg.Kind(), err)
	}
	got, _, err := recv(&buf, bidding.MaxMessageSize, msg.Kind())
	if err != nil {
		t.Fatalf("open the %s sent: %v", msg.Kind(), err)
	}
	return got
}
