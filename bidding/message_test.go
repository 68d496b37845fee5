package bidding

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalnet/shoal/bidding/internal/dag"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

func TestSealOpenRoundTrip(t *testing.T) {
	req, exe := newIdentity(t, 1), newIdentity(t, 2)
	for _, m := range sampleMessages(t, req, exe) {
		t.Run(string(m.Kind()), func(t *testing.T) {
			data, err := Seal(keyFor(m, req, exe), m)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(data) > m.Kind().maxSize() {
				t.Fatalf("%d bytes, over the limit", len(data))
			}
			got, err := Open(data, m.Kind())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			again, err := Marshal(got)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("Marshal(Open(x)) != x: %v", err)
			}
			if got.Kind() != m.Kind() || got.Signer() != m.Signer() {
				t.Fatalf("got %s from %s", got.Kind(), got.Signer())
			}
			// Any-kind Open works too, and a wrong expected kind is refused.
			if _, err := Open(data); err != nil {
				t.Fatalf("Open(any): %v", err)
			}
			other := KindBid
			if m.Kind() == KindBid {
				other = KindAccept
			}
			if _, err := Open(data, other); !errors.Is(err, ErrUnexpectedKind) {
				t.Fatalf("Open as %s: %v, want ErrUnexpectedKind", other, err)
			}
		})
	}
}

func TestTypedOpeners(t *testing.T) {
	req, exe := newIdentity(t, 1), newIdentity(t, 2)
	for _, m := range sampleMessages(t, req, exe) {
		data, err := Seal(keyFor(m, req, exe), m)
		if err != nil {
			t.Fatal(err)
		}
		var got Message
		switch m.Kind() {
		case KindAnnounce:
			got, err = OpenAnnounce(data)
		case KindBid:
			got, err = OpenBid(data)
		case KindDecline:
			got, err = OpenDecline(data)
		case KindAward:
			got, err = OpenAward(data)
		case KindAccept:
			got, err = OpenAccept(data)
		case KindStatus:
			got, err = OpenStatus(data)
		case KindReceipt:
			got, err = DecodeReceipt(data)
		case KindCancel:
			got, err = OpenCancel(data)
		case KindQuery:
			got, err = OpenQuery(data)
		case KindLog:
			got, err = OpenLog(data)
		}
		if err != nil {
			t.Fatalf("%s: %v", m.Kind(), err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(m) {
			t.Fatalf("%s: got %T", m.Kind(), got)
		}
	}
}

func TestAnnounceInlineSpec(t *testing.T) {
	req := newIdentity(t, 1)
	spec, _, job := testSpec(t)
	a, err := NewAnnounce(spec, req.id, nil, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := Seal(req.key, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenAnnounce(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := got.JobSpec()
	if err != nil || !reflect.DeepEqual(s, spec) || got.JobCID != job {
		t.Fatalf("JobSpec = %v, %v", s, err)
	}
	got.Spec = nil
	got.spec = nil
	if _, err := got.JobSpec(); !errors.Is(err, ErrSpecNotInline) {
		t.Fatalf("JobSpec without spec: %v", err)
	}
}

// forge encodes m with a signature made by key, whoever m claims to be from.
func forge(t *testing.T, key crypto.PrivKey, m Message) []byte {
	t.Helper()
	payload, err := SigningBytes(m)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	_, s := m.fields()
	*s = sig
	data, err := toMap(m, true).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRejectCraftedMessages(t *testing.T) {
	req, exe, mallory := newIdentity(t, 1), newIdentity(t, 2), newIdentity(t, 3)
	spec, block, job := testSpec(t)
	_ = spec
	bid := func() *Bid {
		return NewBid(job, exe.id, Offer{LocalBytes: 1, TotalBytes: 2, FreeSlots: 1}, t0)
	}
	receipt := func() *Receipt {
		out := cid.MustParse(testInput2)
		return &Receipt{Version: 1, JobCID: job, AwardID: NewAwardID(), Requester: req.id, Executor: exe.id,
			OutputsRoot: out, Stdout: out, Stderr: out, StartedAt: t0, FinishedAt: t0}
	}

	// An announcement whose inline spec is over 64 KiB: the spec itself is
	// valid (long arguments), only its size is wrong.
	bigSpec, bigBlock, bigJob := testSpec(t, func(s *jobspec.Spec) {
		for range 20 {
			s.Engine.Wasm.Args = append(s.Engine.Wasm.Args, strings.Repeat("a", 4000))
		}
	})
	_ = bigSpec
	oversized := &Announce{Version: 1, JobCID: bigJob, Spec: bigBlock, Requester: req.id, Attempt: 1, IssuedAt: t0}
	// A spec just over MaxInlineSpec in a message still under MaxAnnounceSize.
	_, edgeBlock, edgeJob := testSpec(t, func(s *jobspec.Spec) {
		for range 16 {
			s.Engine.Wasm.Args = append(s.Engine.Wasm.Args, strings.Repeat("a", 4090))
		}
	})
	if len(edgeBlock) <= MaxInlineSpec || len(edgeBlock) > MaxAnnounceSize-1024 {
		t.Fatalf("edge spec of %d bytes does not test the edge", len(edgeBlock))
	}
	edge := &Announce{Version: 1, JobCID: edgeJob, Spec: edgeBlock, Requester: req.id, Attempt: 1, IssuedAt: t0}

	tamperedBid := func() []byte {
		data, err := Seal(exe.key, bid())
		if err != nil {
			t.Fatal(err)
		}
		b, err := OpenBid(data)
		if err != nil {
			t.Fatal(err)
		}
		b.FreeSlots = 64 // claim more after signing
		out, err := toMap(b, true).Encode()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// A Cancel signature reused on a Query with the same fields: the domain
	// and type differ, so it must not verify.
	crossKind := func() []byte {
		id := NewAwardID()
		c := &Cancel{Version: 1, AwardID: id, JobCID: job, Requester: req.id, IssuedAt: t0}
		if _, err := Seal(req.key, c); err != nil {
			t.Fatal(err)
		}
		q := &Query{Version: 1, AwardID: id, JobCID: job, Requester: req.id, IssuedAt: t0, Sig: c.Sig}
		out, err := toMap(q, true).Encode()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	withExtraField := func() []byte {
		b := bid()
		if _, err := Seal(exe.key, b); err != nil {
			t.Fatal(err)
		}
		m := toMap(b, true)
		m.Str("price", "free")
		out, _ := m.Encode()
		return out
	}
	withVersion := func(v int) []byte {
		b := bid()
		b.Version = v
		return forge(t, exe.key, b)
	}
	mismatchedSpec := func() []byte {
		_, otherBlock, _ := testSpec(t, func(s *jobspec.Spec) { s.Name = "other" })
		a := &Announce{Version: 1, JobCID: job, Spec: otherBlock, Requester: req.id, Attempt: 1, IssuedAt: t0}
		return forge(t, req.key, a)
	}
	expiredBeforeIssued := func() []byte {
		a := NewAward(job, block, req.id, exe.id, nil, 1, t0)
		a.Expires = t0.Add(-time.Second)
		return forge(t, req.key, a)
	}
	rsaSigned := func() []byte {
		key, _, err := crypto.GenerateRSAKeyPair(2048, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(key)
		b := NewBid(job, id, Offer{}, t0)
		return forge(t, key, b)
	}

	tests := []struct {
		name string
		data []byte
		kind Kind
		want error
	}{
		{"oversized announce", forge(t, req.key, oversized), KindAnnounce, ErrTooLarge},
		{"inline spec over 64 KiB", forge(t, req.key, edge), KindAnnounce, ErrTooLarge},
		{"forged bid", forge(t, mallory.key, bid()), KindBid, ErrBadSignature},
		{"forged receipt", forge(t, mallory.key, receipt()), KindReceipt, ErrBadSignature},
		{"forged award", forge(t, mallory.key, NewAward(job, nil, req.id, mallory.id, nil, 1, t0)), KindAward, ErrBadSignature},
		{"tampered bid", tamperedBid(), KindBid, ErrBadSignature},
		{"signature of another kind", crossKind(), KindQuery, ErrBadSignature},
		{"unsigned bid", func() []byte { b := bid(); out, _ := toMap(b, true).Encode(); return out }(), KindBid, ErrBadSignature},
		{"unknown field", withExtraField(), KindBid, ErrMalformed},
		{"version 2", withVersion(2), KindBid, ErrVersion},
		{"version 0", withVersion(0), KindBid, ErrVersion},
		{"spec does not match job", mismatchedSpec(), KindAnnounce, ErrInvalid},
		{"award expires before issued", expiredBeforeIssued(), KindAward, ErrInvalid},
		{"RSA peer ID", rsaSigned(), KindBid, ErrNoPublicKey},
		{"not CBOR", []byte("hello"), KindBid, ErrMalformed},
		{"empty", nil, KindBid, ErrMalformed},
		{"bid over 4 KiB", make([]byte, MaxMessageSize+1), KindBid, ErrTooLarge},
		{"unknown type", func() []byte {
			m := dag.NewMap()
			m.Str("type", "offer")
			m.IntAlways("v", 1)
			b, _ := m.Encode()
			return b
		}(), "", ErrUnexpectedKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kinds []Kind
			if tt.kind != "" {
				kinds = []Kind{tt.kind}
			}
			m, err := Open(tt.data, kinds...)
			if err == nil {
				t.Fatalf("Open accepted it: %+v", m)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestForgedBidErrorNamesClaimedBidder(t *testing.T) {
	exe, mallory := newIdentity(t, 2), newIdentity(t, 3)
	_, _, job := testSpec(t)
	_, err := OpenBid(forge(t, mallory.key, NewBid(job, exe.id, Offer{}, t0)))
	if err == nil || !strings.Contains(err.Error(), "not signed by its bidder "+exe.id.String()) {
		t.Fatalf("error %v does not name the claimed bidder", err)
	}
}

func TestNonCanonicalRejected(t *testing.T) {
	exe := newIdentity(t, 2)
	_, _, job := testSpec(t)
	data, err := Seal(exe.key, NewBid(job, exe.id, Offer{FreeSlots: 1}, t0))
	if err != nil {
		t.Fatal(err)
	}
	// Re-encode with a field holding its zero value written out (the
	// canonical form omits it). The signature covers the canonical bytes, so
	// only the canonical check can catch it.
	b, _ := OpenBid(data)
	m := toMap(b, true)
	m.IntAlways("queue", 0)
	out, _ := m.Encode()
	if _, err := OpenBid(out); !errors.Is(err, ErrNonCanonical) {
		t.Fatalf("Open: %v, want ErrNonCanonical", err)
	}
	// Trailing bytes.
	if _, err := OpenBid(append(data, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Open with a trailing byte: %v", err)
	}
}

func TestSealRefuses(t *testing.T) {
	req, exe := newIdentity(t, 1), newIdentity(t, 2)
	_, _, job := testSpec(t)
	tests := []struct {
		name string
		key  crypto.PrivKey
		msg  Message
		want error
	}{
		{"someone else's key", req.key, NewBid(job, exe.id, Offer{}, t0), ErrSignerMismatch},
		{"missing job", exe.key, NewBid(cid.Undef, exe.id, Offer{}, t0), ErrInvalid},
		{"raw CID as job", exe.key, NewBid(cid.MustParse(testInput), exe.id, Offer{}, t0), ErrInvalid},
		{"local over total", exe.key, NewBid(job, exe.id, Offer{LocalBytes: 3, TotalBytes: 2}, t0), ErrInvalid},
		{"no issue time", exe.key, NewBid(job, exe.id, Offer{}, time.Time{}), ErrInvalid},
		{"bad decline code", exe.key, NewDecline(job, AwardID{}, exe.id, &Refusal{Code: "No Way"}, t0), ErrInvalid},
		{"bad phase", exe.key, &Status{AwardID: NewAwardID(), JobCID: job, Executor: exe.id, Phase: "sleeping", Seq: 1, Time: t0}, ErrInvalid},
		{"seq zero", exe.key, &Status{AwardID: NewAwardID(), JobCID: job, Executor: exe.id, Phase: PhaseHeartbeat, Time: t0}, ErrInvalid},
		{"receipt without outputs", exe.key, &Receipt{JobCID: job, AwardID: NewAwardID(), Requester: req.id, Executor: exe.id, StartedAt: t0, FinishedAt: t0}, ErrInvalid},
		{"award too long-lived", req.key, func() *Award {
			a := NewAward(job, nil, req.id, exe.id, nil, 1, t0)
			a.Expires = t0.Add(time.Hour)
			return a
		}(), ErrInvalid},
		{"award with too many addresses", req.key, func() *Award {
			var provs []peer.AddrInfo
			for i := range MaxProviders {
				var addrs []ma.Multiaddr
				for j := range MaxAddrs {
					addrs = append(addrs, addr(t, fmt.Sprintf("/dns4/%s-%d-%d.example.com/tcp/4001", strings.Repeat("n", 60), i, j)))
				}
				provs = append(provs, peer.AddrInfo{ID: req.id, Addrs: addrs})
			}
			return NewAward(job, nil, req.id, exe.id, provs, 1, t0)
		}(), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Seal(tt.key, tt.msg); !errors.Is(err, tt.want) {
				t.Fatalf("Seal: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReceiptBlock(t *testing.T) {
	req, exe := newIdentity(t, 1), newIdentity(t, 2)
	_, _, job := testSpec(t)
	out := cid.MustParse(testInput2)
	r := &Receipt{JobCID: job, AwardID: NewAwardID(), Requester: req.id, Executor: exe.id,
		OutputsRoot: out, Stdout: out, Stderr: out, ExitCode: 3, StartedAt: t0, FinishedAt: t0.Add(time.Second)}
	block, c, err := EncodeReceipt(exe.key, r)
	if err != nil {
		t.Fatal(err)
	}
	if c != ReceiptCID(block) || c.Prefix().Codec != cid.DagCBOR {
		t.Fatalf("receipt CID %s", c)
	}
	got, err := DecodeReceipt(block)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExitCode != 3 || got.Succeeded() || got.OutputsRoot != out || !got.FinishedAt.Equal(r.FinishedAt) {
		t.Fatalf("decoded %+v", got)
	}
	// Links are tag 42 so the block links to the outputs in IPLD.
	if n := bytes.Count(block, []byte{0xd8, 0x2a}); n != 4 {
		t.Fatalf("%d links in the receipt block, want 4 (job, outputs, stdout, stderr)", n)
	}
}

func TestDomainsDiffer(t *testing.T) {
	seen := map[string]Kind{}
	for _, k := range []Kind{KindAnnounce, KindBid, KindDecline, KindAward, KindAccept, KindStatus, KindReceipt, KindCancel, KindQuery, KindLog} {
		d := k.Domain()
		if prev, dup := seen[d]; dup {
			t.Fatalf("%s and %s share domain %q", k, prev, d)
		}
		seen[d] = k
		if want := "shoal/" + string(k) + "/v1\x00"; d != want {
			t.Fatalf("domain %q, want %q", d, want)
		}
		if newMessage(k) == nil || newMessage(k).Kind() != k {
			t.Fatalf("newMessage(%s)", k)
		}
	}
}

func TestAwardID(t *testing.T) {
	id := NewAwardID()
	if id.IsZero() || NewAwardID() == id {
		t.Fatal("award IDs are not random")
	}
	back, err := ParseAwardID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseAwardID: %v", err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("z", 32)} {
		if _, err := ParseAwardID(bad); err == nil {
			t.Errorf("ParseAwardID(%q) succeeded", bad)
		}
	}
}

// OpenOwn opens what this node sealed, checks it as Open does but for the
// signature, and refuses a message another peer signed.
func TestOpenOwn(t *testing.T) {
	exe, other := newIdentity(t, 2), newIdentity(t, 3)
	_, _, job := testSpec(t)
	data, err := Seal(exe.key, NewBid(job, exe.id, Offer{FreeSlots: 1}, t0))
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenOwn(data, exe.id, KindBid)
	if err != nil || m.Signer() != exe.id {
		t.Fatalf("OpenOwn of its own bid: %v %v", m, err)
	}
	if _, err := OpenOwn(data, other.id, KindBid); !errors.Is(err, ErrSignerMismatch) {
		t.Fatalf("OpenOwn of another's bid: %v, want ErrSignerMismatch", err)
	}
	if _, err := OpenOwn(data, exe.id, KindAccept); !errors.Is(err, ErrUnexpectedKind) {
		t.Fatalf("OpenOwn as another kind: %v, want ErrUnexpectedKind", err)
	}
	b, _ := OpenBid(data)
	mp := toMap(b, true)
	mp.IntAlways("queue", 0)
	out, _ := mp.Encode()
	if _, err := OpenOwn(out, exe.id, KindBid); !errors.Is(err, ErrNonCanonical) {
		t.Fatalf("OpenOwn of a non-canonical bid: %v, want ErrNonCanonical", err)
	}
	if _, err := OpenOwn(append(data, 0), exe.id, KindBid); !errors.Is(err, ErrMalformed) {
		t.Fatalf("OpenOwn with a trailing byte: %v", err)
	}
}
