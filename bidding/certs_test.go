package bidding

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// The "certs" key is optional and omitted when empty: a message without
// certificates encodes exactly as it did before the key existed, so older
// signatures stay valid and the typical sizes of docs/protocol.md hold.
func TestCertsFieldIsOptionalAndCanonical(t *testing.T) {
	req, exe := newIdentity(t, 1), newIdentity(t, 2)
	spec, _, job := testSpec(t)
	ann, err := NewAnnounce(spec, req.id, []ma.Multiaddr{addr(t, "/ip4/10.0.0.1/tcp/4001")}, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	bid := NewBid(job, exe.id, Offer{LocalBytes: 1, TotalBytes: 2, FreeSlots: 1}, t0)
	certs := [][]byte{bytes.Repeat([]byte{1}, 300), {2}}

	for _, tc := range []struct {
		name string
		m    Message
		key  identity
		set  func([][]byte)
		get  func(Message) [][]byte
	}{
		{"announce", ann, req, func(c [][]byte) { ann.Certs = c }, func(m Message) [][]byte { return m.(*Announce).Certs }},
		{"bid", bid, exe, func(c [][]byte) { bid.Certs = c }, func(m Message) [][]byte { return m.(*Bid).Certs }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.set(nil)
			plain, err := Seal(tc.key.key, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(plain, []byte("certs")) {
				t.Fatal("empty certs are encoded; want the key omitted")
			}
			tc.set(certs)
			with, err := Seal(tc.key.key, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(with, tc.m.Kind())
			if err != nil {
				t.Fatalf("Open with certs: %v", err)
			}
			if !reflect.DeepEqual(tc.get(got), certs) {
				t.Fatalf("certs = %x, want %x", tc.get(got), certs)
			}
			// The certs are signed: changing one byte breaks the signature.
			tampered := bytes.Replace(with, certs[0], bytes.Repeat([]byte{3}, 300), 1)
			if _, err := Open(tampered, tc.m.Kind()); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered certs: %v, want ErrBadSignature", err)
			}
			// Limits: count, empty and oversized certificates.
			for name, bad := range map[string][][]byte{
				"too many": {{1}, {2}, {3}, {4}, {5}},
				"empty":    {{}},
				"too big":  {make([]byte, MaxCertSize+1)},
			} {
				tc.set(bad)
				if _, err := Seal(tc.key.key, tc.m); !errors.Is(err, ErrInvalid) {
					t.Fatalf("%s: Seal = %v, want ErrInvalid", name, err)
				}
			}
			tc.set(nil)
		})
	}
}

// A bid carrying the most certificates of the largest size still fits the
// 4 KiB message limit.
func TestMaxCertsFitABid(t *testing.T) {
	exe := newIdentity(t, 2)
	_, _, job := testSpec(t)
	b := NewBid(job, exe.id, Offer{LocalBytes: 1 << 40, TotalBytes: 1 << 40, FreeSlots: 1 << 20, QueueDepth: 1 << 20,
		EstStart: MaxEstStart, ReservationTTL: MaxReservation}, t0.Add(time.Hour))
	for range MaxCerts {
		b.Certs = append(b.Certs, make([]byte, MaxCertSize))
	}
	data, err := Seal(exe.key, b)
	if err != nil {
		t.Fatalf("largest bid: %v", err)
	}
	if len(data) > MaxMessageSize {
		t.Fatalf("largest bid is %d bytes, limit %d", len(data), MaxMessageSize)
	}
}
