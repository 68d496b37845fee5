package bidding

import (
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// TestVerifiedSetRecord: a verified set is signed by the requester of
// every receipt in it, of distinct executors that agree and succeeded;
// each other set is refused, and Select prefers a set to one receipt.
func TestVerifiedSetRecord(t *testing.T) {
	f := newMemoFixture(t)
	key := ReceiptRecordKey(f.job)
	third := newIdentity(t, 4)
	a := f.receipt
	b := f.sealReceipt(t, f.other, f.job, 0, t0.Add(5*time.Second))
	seal := func(by identity, receipts ...[]byte) []byte {
		t.Helper()
		r := &ReceiptRecord{Version: WireVersion, JobCID: f.job, Network: f.net, By: by.id, Receipts: receipts, Published: t0}
		out, err := Seal(by.key, r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	good, err := SealVerifiedSet(f.req.key, [][]byte{a, b}, f.net, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	// A receipt of third with other outputs.
	other := func() []byte {
		rc := &Receipt{JobCID: f.job, AwardID: NewAwardID(), Requester: f.req.id, Executor: third.id, OutputsRoot: cid.MustParse(testInput),
			Stdout: cid.MustParse(testInput2), Stderr: cid.MustParse(testInput2), StartedAt: t0, FinishedAt: t0.Add(time.Second)}
		out, _, err := EncodeReceipt(third.key, rc)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}()
	v := ReceiptRecordValidator{Network: f.net, Now: func() time.Time { return t0 }}
	tests := []struct {
		name  string
		value []byte
		ok    bool
	}{
		{"valid set", good, true},
		{"signed by an executor, not the requester", seal(f.exe, a, b), false},
		{"one executor twice", seal(f.req, a, a), false},
		{"disagreeing receipts", seal(f.req, a, other), false},
		{"a failed receipt", seal(f.req, a, f.sealReceipt(t, f.other, f.job, 1, t0)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate(key, tt.value)
			if tt.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, ErrRecordMismatch) {
				t.Fatalf("Validate = %v, want %v", err, ErrRecordMismatch)
			}
		})
	}
	r, err := OpenReceiptRecord(good, key, f.net)
	if err != nil || !r.Set() || len(r.All()) != 2 || r.By != f.req.id {
		t.Fatalf("open: %+v, %v", r, err)
	}
	if i, err := v.Select(key, [][]byte{f.record(t, a), good}); err != nil || i != 1 {
		t.Fatalf("Select = %d, %v: want the set", i, err)
	}
	if _, err := SealVerifiedSet(f.req.key, [][]byte{a}, f.net, nil, t0); err == nil {
		t.Fatal("a set of one receipt sealed")
	}
}
