package bidding

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

func remoteReceipt(t *testing.T) (*Receipt, identity) {
	t.Helper()
	req, exe := newIdentity(t, 1), newIdentity(t, 2)
	_, _, job := testSpec(t)
	out := cid.MustParse(testInput2)
	r := &Receipt{Version: 1, JobCID: job, AwardID: NewAwardID(), Requester: req.id, Executor: exe.id,
		OutputsRoot: out, Stdout: out, Stderr: out, StartedAt: t0, FinishedAt: t0.Add(time.Second)}
	return r, exe
}

func TestReceiptRemoteRoundTrip(t *testing.T) {
	r, exe := remoteReceipt(t)
	in := cid.MustParse(testInput2)
	r.Imports = []ImportRecord{{Index: 0, CID: in, ETag: `"v1"`, LastModified: t0.Add(-time.Hour)}, {Index: 3, CID: in, Reused: true}}
	r.Published = []PublishRecord{{Index: 0, OK: true}, {Index: 1, Error: "s3://out/x: connection refused"}}
	block, _, err := EncodeReceipt(exe.key, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeReceipt(block)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Imports, r.Imports) || !reflect.DeepEqual(got.Published, r.Published) {
		t.Fatalf("decoded %+v %+v", got.Imports, got.Published)
	}
	// The entries are signed: changing one breaks the signature.
	tampered := strings.Replace(string(block), `"v1"`, `"v2"`, 1)
	if _, err := DecodeReceipt([]byte(tampered)); err == nil {
		t.Fatal("a tampered ETag was accepted")
	}
}

// TestReceiptRemoteFitsMessage checks that the largest receipt the bounds
// allow (every error text at its limit, every remote input and publish
// target recorded) still fits in one message.
func TestReceiptRemoteFitsMessage(t *testing.T) {
	r, exe := remoteReceipt(t)
	r.ErrorCode, r.Error = CodePublishFailed, strings.Repeat("e", MaxErrorLen)
	in := cid.MustParse(testInput2)
	for i := range jobspec.MaxRemoteInputs {
		r.Imports = append(r.Imports, ImportRecord{Index: jobspec.MaxInputs - jobspec.MaxRemoteInputs + i, CID: in,
			ETag: strings.Repeat("t", MaxValidatorLen), LastModified: t0, Reused: true})
	}
	for i := range jobspec.MaxPublish {
		r.Published = append(r.Published, PublishRecord{Index: i, Error: strings.Repeat("p", MaxPublishErrorLen)})
	}
	block, _, err := EncodeReceipt(exe.key, r)
	if err != nil {
		t.Fatalf("largest receipt: %v", err)
	}
	if len(block) > MaxMessageSize {
		t.Fatalf("largest receipt is %d bytes, limit %d", len(block), MaxMessageSize)
	}
	t.Logf("largest receipt: %d of %d bytes", len(block), MaxMessageSize)
}

func TestReceiptRemoteChecks(t *testing.T) {
	in := cid.MustParse(testInput2)
	cases := map[string]func(*Receipt){
		"import without cid":   func(r *Receipt) { r.Imports = []ImportRecord{{Index: 1}} },
		"imports out of order": func(r *Receipt) { r.Imports = []ImportRecord{{Index: 2, CID: in}, {Index: 1, CID: in}} },
		"etag too long":        func(r *Receipt) { r.Imports = []ImportRecord{{CID: in, ETag: strings.Repeat("x", MaxValidatorLen+1)}} },
		"ok with error":        func(r *Receipt) { r.Published = []PublishRecord{{OK: true, Error: "x"}} },
		"failed without error": func(r *Receipt) { r.Published = []PublishRecord{{}} },
		"target out of range":  func(r *Receipt) { r.Published = []PublishRecord{{Index: jobspec.MaxPublish, OK: true}} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			r, exe := remoteReceipt(t)
			mutate(r)
			if _, _, err := EncodeReceipt(exe.key, r); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}
