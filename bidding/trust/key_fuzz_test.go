package trust

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FuzzParsePublicKey: org public keys come from users (`shoal org trust`,
// policy files) and from certificates on the wire. Parsing never panics,
// and what parses is a key that formats back to a string that parses to
// the same key.
func FuzzParsePublicKey(f *testing.F) {
	k := testKey(f, 1).GetPublic()
	f.Add(FormatPublicKey(k))
	id, err := peer.IDFromPublicKey(k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(id.String())
	f.Add("bafzaa")
	f.Add("12D3KooW")
	f.Add("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		if k == nil || k.Type() != crypto.Ed25519 {
			t.Fatalf("ParsePublicKey(%q) returned a non-Ed25519 key", s)
		}
		again, err := ParsePublicKey(FormatPublicKey(k))
		if err != nil {
			t.Fatalf("a parsed key does not round-trip: %v", err)
		}
		if !again.Equals(k) {
			t.Fatalf("round-trip changed the key of %q", s)
		}
	})
}

// FuzzUnmarshalOrgKey: org key files are read from disk (`shoal org sign`).
// Decoding never panics, and a decoded key re-marshals to a key that
// signs what its public half verifies.
func FuzzUnmarshalOrgKey(f *testing.F) {
	b, err := MarshalOrgKey(testKey(f, 1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := UnmarshalOrgKey(b)
		if err != nil {
			return
		}
		if k.Type() != crypto.Ed25519 {
			t.Fatalf("accepted a %s org key", k.Type())
		}
		again, err := MarshalOrgKey(k)
		if err != nil {
			t.Fatalf("a decoded key does not re-marshal: %v", err)
		}
		k2, err := UnmarshalOrgKey(again)
		if err != nil || !k2.Equals(k) {
			t.Fatalf("re-marshalled key differs: %v", err)
		}
		msg := []byte("shoal org key fuzz")
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatalf("a decoded key cannot sign: %v", err)
		}
		if ok, err := k.GetPublic().Verify(msg, sig); err != nil || !ok {
			t.Fatalf("a decoded key's signature does not verify: ok=%v err=%v", ok, err)
		}
	})
}

func TestUnmarshalOrgKeyRefusesCorruptFiles(t *testing.T) {
	good, err := MarshalOrgKey(testKey(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalOrgKey(good); err != nil {
		t.Fatalf("a good key file: %v", err)
	}
	// The last byte of the file is the last byte of the stored public half.
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	if _, err := UnmarshalOrgKey(bad); err == nil {
		t.Fatal("accepted a key file whose public half does not match its seed")
	}
	sk, _, err := crypto.GenerateSecp256k1Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalOrgKey(other); err == nil {
		t.Fatal("accepted a secp256k1 org key")
	}
	id, err := peer.IDFromPublicKey(sk.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePublicKey(id.String()); err == nil {
		t.Fatal("accepted a secp256k1 org public key")
	}
}
