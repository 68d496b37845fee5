package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// GenerateOrgKey returns a new Ed25519 org key.
func GenerateOrgKey() (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("trust: generate org key: %w", err)
	}
	return k, nil
}

// MarshalOrgKey is the file form of an org key (libp2p's protobuf, as the
// node's identity.key).
func MarshalOrgKey(k crypto.PrivKey) ([]byte, error) { return crypto.MarshalPrivateKey(k) }

// UnmarshalOrgKey reads an org key file. Org keys are Ed25519, and the
// public half stored in the file must be the one its seed derives: a file
// whose halves disagree would sign certificates that never verify.
func UnmarshalOrgKey(b []byte) (crypto.PrivKey, error) {
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("trust: org key: %w", err)
	}
	if k.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("trust: org key: a %s key; org keys are Ed25519 (make one with `shoal org init`)", k.Type())
	}
	raw, err := k.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("trust: org key: not a %d-byte Ed25519 key", ed25519.PrivateKeySize)
	}
	derived := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
	if !bytes.Equal(derived[ed25519.SeedSize:], raw[ed25519.SeedSize:]) {
		return nil, fmt.Errorf("trust: org key: the file is corrupt (its public key is not the one its private key derives)")
	}
	return k, nil
}

// FormatPublicKey writes an org public key as text: the CIDv1 (codec
// libp2p-key, identity multihash) of the key, in base32 ("bafzaa…"), the
// form IPNS uses for keys. It embeds the whole key, so it needs no lookup.
func FormatPublicKey(k crypto.PubKey) string {
	id, err := peer.IDFromPublicKey(k)
	if err != nil {
		return "<invalid key>"
	}
	return peer.ToCid(id).String()
}

// ParsePublicKey reads an org public key written by FormatPublicKey (a peer
// ID string of an Ed25519 key, "12D3Koo…", is accepted too).
func ParsePublicKey(s string) (crypto.PubKey, error) {
	var id peer.ID
	if c, err := cid.Decode(s); err == nil {
		if id, err = peer.FromCid(c); err != nil {
			return nil, fmt.Errorf("org key %q: %w", s, err)
		}
	} else if id, err = peer.Decode(s); err != nil {
		return nil, fmt.Errorf("org key %q is not a key (want the bafzaa… string `shoal org init` printed)", s)
	}
	k, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("org key %q does not embed a public key: %w", s, err)
	}
	if k.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("org key %q is a %s key; org keys are Ed25519", s, k.Type())
	}
	return k, nil
}
