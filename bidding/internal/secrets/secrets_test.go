package secrets

import (
	"bytes"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func identity(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, id
}

func TestSealOpen(t *testing.T) {
	execKey, execID := identity(t)
	otherKey, otherID := identity(t)
	b := Binding{Award: []byte("award-1"), Job: "bafyjob", Executor: execID}
	vals := map[string]string{"TOKEN": "hunter2-the-secret", "EMPTY": ""}
	sealed, err := Seal(b, vals)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("the sealed message holds the value in clear")
	}
	got, err := Open(execKey, b, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["TOKEN"] != vals["TOKEN"] || got["EMPTY"] != "" {
		t.Fatalf("opened %v", got)
	}

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-20] ^= 1
	cases := []struct {
		name   string
		key    crypto.PrivKey
		b      Binding
		sealed []byte
	}{
		{"another node's key (an interceptor)", otherKey, b, sealed},
		{"another node's key, its own binding", otherKey, Binding{Award: b.Award, Job: b.Job, Executor: otherID}, sealed},
		{"tampered ciphertext", execKey, b, tampered},
		{"tampered encapsulated key", execKey, b, append([]byte{sealed[0] ^ 1}, sealed[1:]...)},
		{"truncated", execKey, b, sealed[:20]},
		{"another award", execKey, Binding{Award: []byte("award-2"), Job: b.Job, Executor: execID}, sealed},
		{"another job", execKey, Binding{Award: b.Award, Job: "bafyother", Executor: execID}, sealed},
		{"oversized", execKey, b, make([]byte, MaxSealed+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Open(tc.key, tc.b, tc.sealed)
			if !errors.Is(err, ErrOpen) || v != nil {
				t.Fatalf("Open: %v %v, want ErrOpen", v, err)
			}
			t.Logf("refusal: %v", err)
		})
	}
}

func TestSealRefusesNonEd25519(t *testing.T) {
	sk, _, err := crypto.GenerateSecp256k1Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Seal(Binding{Executor: id}, map[string]string{"A": "b"}); !errors.Is(err, ErrKey) {
		t.Fatalf("Seal to a secp256k1 peer: %v, want ErrKey", err)
	}
	if _, err := Open(sk, Binding{Executor: id}, []byte("x")); !errors.Is(err, ErrKey) {
		t.Fatalf("Open with a secp256k1 key: %v, want ErrKey", err)
	}
}

// FuzzOpen: Open never panics on any bytes and opens nothing it did not
// seal.
func FuzzOpen(f *testing.F) {
	key, id := func() (crypto.PrivKey, peer.ID) {
		sk, _, _ := crypto.GenerateEd25519Key(nil)
		id, _ := peer.IDFromPrivateKey(sk)
		return sk, id
	}()
	b := Binding{Award: []byte("a"), Job: "j", Executor: id}
	good, err := Seal(b, map[string]string{"X": "y"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := Open(key, b, in)
		if err != nil {
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("error not ErrOpen: %v", err)
			}
			return
		}
		if !bytes.Equal(in, good) && v["X"] != "y" {
			t.Fatalf("opened forged bytes to %v", v)
		}
	})
}
