package bidding

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// memoFixture: a sealed receipt of a job by exe and its record.
type memoFixture struct {
	req, exe, other identity
	job             cid.Cid
	receipt         []byte
	net             []byte
}

func newMemoFixture(t testing.TB) memoFixture {
	t.Helper()
	f := memoFixture{req: newIdentity(t, 1), exe: newIdentity(t, 2), other: newIdentity(t, 3), net: NetworkID(nil)}
	_, _, f.job = testSpec(t)
	f.receipt = f.sealReceipt(t, f.exe, f.job, 0, t0.Add(4*time.Second))
	return f
}

func (f memoFixture) sealReceipt(t testing.TB, exe identity, job cid.Cid, exit int, finished time.Time) []byte {
	t.Helper()
	out := cid.MustParse(testInput2)
	rc := &Receipt{JobCID: job, AwardID: NewAwardID(), Requester: f.req.id, Executor: exe.id, OutputsRoot: out, Stdout: out, Stderr: out,
		ExitCode: exit, StartedAt: t0, FinishedAt: finished}
	b, _, err := EncodeReceipt(exe.key, rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f memoFixture) record(t testing.TB, receipt []byte) []byte {
	t.Helper()
	b, err := SealReceiptRecord(f.exe.key, receipt, f.net, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceiptRecordValidate(t *testing.T) {
	f := newMemoFixture(t)
	good := f.record(t, f.receipt)
	key := ReceiptRecordKey(f.job)
	_, _, otherJob := testSpec(t, func(s *jobspec.Spec) { s.Name = "other" })

	// A record of f.exe's receipt, signed by another peer.
	forged := func() []byte {
		r := &ReceiptRecord{Version: WireVersion, JobCID: f.job, Network: f.net, By: f.exe.id, Receipts: [][]byte{f.receipt}, Published: t0}
		payload, err := SigningBytes(r)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sig, err = f.other.key.Sign(payload); err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	// A record signed by its signer, holding another executor's receipt.
	theirs := f.sealReceipt(t, f.other, f.job, 0, t0)
	stolen := func() []byte {
		r := &ReceiptRecord{Version: WireVersion, JobCID: f.job, Network: f.net, By: f.exe.id, Receipts: [][]byte{theirs}, Published: t0}
		b, err := Seal(f.exe.key, r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	// A receipt whose bytes were changed after its executor signed it.
	tampered := bytes.Clone(f.receipt)
	tampered[len(tampered)-1] ^= 1
	badInner := func() []byte {
		r := &ReceiptRecord{Version: WireVersion, JobCID: f.job, Network: f.net, By: f.exe.id, Receipts: [][]byte{tampered}, Published: t0}
		b, err := Seal(f.exe.key, r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	otherNet, err := SealReceiptRecord(f.exe.key, f.receipt, NetworkID([]byte("a swarm key")), nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	future, err := SealReceiptRecord(f.exe.key, f.receipt, f.net, nil, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	big := append(bytes.Clone(good), make([]byte, MaxReceiptRecordSize)...)

	v := ReceiptRecordValidator{Network: f.net, Now: func() time.Time { return t0 }}
	tests := []struct {
		name    string
		key     string
		value   []byte
		wantErr error // nil: valid; errAny: any error
	}{
		{"valid", key, good, nil},
		{"bad signature", key, forged, ErrBadSignature},
		{"wrong job CID (another job's key)", ReceiptRecordKey(otherJob), good, ErrRecordMismatch},
		{"key outside the namespace", "/shoal-cap/" + string(f.job.Bytes()), good, ErrRecordMismatch},
		{"receipt of another executor", key, stolen, ErrRecordMismatch},
		{"tampered receipt", key, badInner, ErrBadSignature},
		{"another network", key, otherNet, ErrRecordMismatch},
		{"published in the future", key, future, errAny},
		{"too large", key, big, ErrTooLarge},
		{"truncated", key, good[:len(good)/2], ErrMalformed},
		{"a receipt, not a record", key, f.receipt, ErrUnexpectedKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate(tt.key, tt.value)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.wantErr == errAny && err == nil:
				t.Fatal("Validate = nil, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Validate = %v, want %v", err, tt.wantErr)
			}
		})
	}
	r, err := OpenReceiptRecord(good, key, f.net)
	if err != nil {
		t.Fatal(err)
	}
	if rc := r.Receipt(); rc == nil || rc.Executor != f.exe.id || rc.JobCID != f.job {
		t.Fatalf("Receipt() = %+v", rc)
	}
}

var errAny = errors.New("any error")

func TestReceiptRecordSelect(t *testing.T) {
	f := newMemoFixture(t)
	key := ReceiptRecordKey(f.job)
	first := f.record(t, f.receipt)
	later := f.record(t, f.sealReceipt(t, f.exe, f.job, 0, t0.Add(time.Hour)))
	failed := f.record(t, f.sealReceipt(t, f.exe, f.job, 1, t0))
	v := ReceiptRecordValidator{Network: f.net, Now: func() time.Time { return t0 }}
	tests := []struct {
		name   string
		values [][]byte
		want   int
	}{
		{"the first run", [][]byte{later, first}, 1},
		{"either order", [][]byte{first, later}, 0},
		{"a success over a failure", [][]byte{failed, later}, 1},
		{"invalid values are skipped", [][]byte{[]byte("junk"), later}, 1},
		{"equal values: the first", [][]byte{first, first}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Select(key, tt.values)
			if err != nil || got != tt.want {
				t.Fatalf("Select = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	if _, err := v.Select(key, [][]byte{[]byte("junk")}); err == nil {
		t.Fatal("Select of no valid value = nil error")
	}
}

// FuzzOpenReceiptRecord: the decoder of DHT record values never panics,
// and what it accepts is canonical, of its key's job and network, and
// holds a receipt of its signer (or, a verified set, receipts of its
// signer's awards).
func FuzzOpenReceiptRecord(f *testing.F) {
	fx := newMemoFixture(f)
	good := fx.record(f, fx.receipt)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(fx.receipt)
	if set, err := SealVerifiedSet(fx.req.key, [][]byte{fx.receipt, fx.sealReceipt(f, fx.other, fx.job, 0, t0)}, fx.net, nil, t0); err == nil {
		f.Add(set)
	}
	key := ReceiptRecordKey(fx.job)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := OpenReceiptRecord(data, key, fx.net)
		if err != nil {
			return
		}
		again, err := Marshal(r)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted non-canonical bytes: %v", err)
		}
		if r.JobCID != fx.job || !bytes.Equal(r.Network, fx.net) || r.Receipt() == nil || (!r.Set() && r.Receipt().Executor != r.By) {
			t.Fatalf("accepted a mismatched record: %+v", r)
		}
		for _, rc := range r.All() {
			if r.Set() && (rc.Requester != r.By || !rc.Succeeded()) {
				t.Fatalf("accepted a verified set not of its signer's awards: %+v", r)
			}
		}
	})
}

// A record this node sealed (SealOwnReceiptRecord into Sealed) validates
// without its signatures being verified again, and only by its exact
// bytes: the same record with one bit flipped is verified and
// refused, and every check but the signatures still holds for it.
func TestReceiptRecordValidateSealed(t *testing.T) {
	f := newMemoFixture(t)
	rc, err := DecodeReceipt(f.receipt)
	if err != nil {
		t.Fatal(err)
	}
	sealed := &SealedRecords{}
	own, err := SealOwnReceiptRecord(f.exe.key, f.receipt, rc, f.net, nil, t0, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.record(t, f.receipt); !bytes.Equal(own, want) {
		t.Fatalf("SealOwnReceiptRecord wrote %x, SealReceiptRecord %x", own, want)
	}
	v := ReceiptRecordValidator{Network: f.net, Sealed: sealed}
	key := ReceiptRecordKey(f.job)
	if err := v.Validate(key, own); err != nil {
		t.Fatalf("own record refused: %v", err)
	}
	if !sealed.has(own) {
		t.Fatal("the sealed record is not remembered")
	}
	// Any other bytes are verified: flip a bit of the last one.
	bad := bytes.Clone(own)
	bad[len(bad)-1] ^= 1
	if err := v.Validate(key, bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("own record with a flipped bit: %v, want ErrBadSignature", err)
	}
	// A forged signature in Sealed (it cannot be there, but if it were):
	// the job of the key and the network are still checked.
	sealed.add(bad)
	if err := v.Validate(key, bad); err != nil {
		t.Fatalf("a record in Sealed is verified again: %v", err)
	}
	_, _, otherJob := testSpec(t, func(s *jobspec.Spec) { s.Name = "other" })
	if err := v.Validate(ReceiptRecordKey(otherJob), own); !errors.Is(err, ErrRecordMismatch) {
		t.Fatalf("own record under another job's key: %v, want ErrRecordMismatch", err)
	}
	other := ReceiptRecordValidator{Network: NetworkID([]byte("a swarm key")), Sealed: sealed}
	if err := other.Validate(key, own); !errors.Is(err, ErrRecordMismatch) {
		t.Fatalf("own record in another network: %v, want ErrRecordMismatch", err)
	}
	var none *SealedRecords // nil holds nothing
	none.add(own)
	if none.has(own) {
		t.Fatal("a nil SealedRecords holds a record")
	}
}
