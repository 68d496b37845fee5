package market

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/multiformats/go-multihash"
	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Each outcome the requester decides stores its stable code beside the
// message, at the place it is decided.
func TestJobOutcomeCodes(t *testing.T) {
	ctx := context.Background()
	s, err := OpenJobStore(ctx, dssync.MutexWrap(ds.NewMapDatastore()))
	if err != nil {
		t.Fatal(err)
	}
	m := &Market{jobs: s, log: slog.New(slog.DiscardHandler)}
	receipt := func(code bidding.Code, msg string, exit int) ReceiptInfo {
		rc := &bidding.Receipt{ExitCode: exit, ErrorCode: code, Error: msg}
		return receiptInfo(rc, "bafyreceipt")
	}
	spec := &jobspec.Spec{QueueTimeout: time.Second}
	for i, tc := range []struct {
		name string
		job  Job
		act  func(id cid.Cid)
		want bidding.Code
	}{
		{"no receipt", Job{}, m.finish, bidding.CodeNoReceipt},
		{"receipt error", Job{Receipts: []ReceiptInfo{receipt(bidding.CodeTimeout, "ran past 1s", -1)}}, m.finish, bidding.CodeTimeout},
		{"non-zero exit", Job{Receipts: []ReceiptInfo{receipt("", "", 3)}}, m.finish, bidding.CodeExitNonZero},
		{"first failure's code", Job{Receipts: []ReceiptInfo{receipt("", "", 0), receipt(bidding.CodeBadInput, "symlink root", -1),
			receipt(bidding.CodeTimeout, "x", -1)}}, m.finish, bidding.CodeBadInput},
		{"old receipt record", Job{Receipts: []ReceiptInfo{{Error: "out_of_memory: limit 64 MiB"}}}, m.finish, bidding.CodeOutOfMemory},
		{"ops award lost", Job{Type: string(jobspec.Ops), Receipts: []ReceiptInfo{receipt("", "", 0)},
			Awards: []AwardInfo{{ID: "a", State: "lost", ErrorCode: bidding.CodeRunOverdue, Error: "run overdue"}}}, m.finish, bidding.CodeRunOverdue},
		{"no executor", Job{Declines: []DeclineInfo{{Peer: "p", Code: "no_capacity", Reason: "queue full"}}},
			func(id cid.Cid) { m.failNoExecutor(id, spec) }, bidding.CodeNoExecutor},
		{"spec unavailable", Job{}, func(id cid.Cid) { m.fail(id, bidding.CodeSpecUnavailable, "gone") }, bidding.CodeSpecUnavailable},
		{"cancelled by the user", Job{}, func(id cid.Cid) {
			if err := m.Cancel(ctx, id.String()); err != nil {
				t.Fatal(err)
			}
		}, bidding.CodeCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := multihash.Sum([]byte{byte(i)}, multihash.SHA2_256, -1)
			id := cid.NewCidV1(cid.DagCBOR, h)
			j := tc.job
			j.ID, j.State, j.Created = id.String(), Running, time.Now()
			if err := s.Create(ctx, &j); err != nil {
				t.Fatal(err)
			}
			tc.act(id)
			got, err := s.Get(id.String())
			if err != nil {
				t.Fatal(err)
			}
			if !got.State.Terminal() || got.ErrorCode != tc.want || got.Error == "" {
				t.Fatalf("job %s, code %q, error %q; want it ended with code %q and a message", got.State, got.ErrorCode, got.Error, tc.want)
			}
			if l := s.List(); l[0].ErrorCode != tc.want && l[len(l)-1].ErrorCode != tc.want {
				t.Errorf("List does not carry the code")
			}
		})
	}
	if r := receipt(bidding.CodeFetchFailed, "input x", -1); r.ErrorCode != bidding.CodeFetchFailed || r.Error != "fetch_failed: input x" {
		t.Errorf("receiptInfo = %+v, want code fetch_failed and the message starting with it", r)
	}
}
