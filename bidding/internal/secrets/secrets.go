// Package secrets seals a job's secret values to its executor and opens
// them there. The values travel only in the award, as one HPKE message
// (RFC 9180, Go's crypto/hpke: base mode, DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, ChaCha20-Poly1305) to an X25519 key derived from the
// executor's Ed25519 libp2p identity: the requester needs nothing but the
// executor's peer ID, which embeds its Ed25519 public key.
//
//   - Public key: the Ed25519 point mapped to its Montgomery form
//     (filippo.io/edwards25519 Point.BytesMontgomery), the birational map
//     that libsodium's crypto_sign_ed25519_pk_to_curve25519 and age's
//     ssh-ed25519 recipients use.
//   - Private key: the first 32 bytes of SHA-512 of the Ed25519 seed, the
//     scalar behind the Ed25519 key (X25519 clamps it the same way).
//
// The HPKE info binds the message to one award: a domain string, the award
// ID, the job CID and the executor's peer ID, so a sealed message taken from
// one award opens under no other. Opening authenticates the ciphertext: a
// changed byte, another recipient's key or another award fails with
// ErrOpen.
//
// It must not import bidding/market or node; it knows peers and keys only.
package secrets

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// domain separates these messages from any other use of the keys.
const domain = "shoal/award-secrets/v1"

// MaxSealed bounds a sealed message: the KEM's 32-byte encapsulated key,
// the JSON of at most MaxPlain bytes and the 16-byte tag.
const MaxSealed = 32 + MaxPlain + 16

// MaxPlain bounds the JSON of the values: jobspec.MaxSecretsTotal (16 KiB)
// of names and values plus room for quoting; values that JSON-escape to
// more are refused by Seal.
const MaxPlain = 20 << 10

// ErrOpen is matched by every failure of Open to authenticate or decode a
// message: tampered, for another executor or award, or malformed.
var ErrOpen = errors.New("secrets: cannot open the sealed secrets")

// ErrKey is matched when a peer's key is not an Ed25519 key (the only kind
// Shoal nodes use).
var ErrKey = errors.New("secrets: not an Ed25519 key")

var (
	kdf  = hpke.HKDFSHA256()
	aead = hpke.ChaCha20Poly1305()
	kem  = hpke.DHKEM(ecdh.X25519())
)

// Binding is what a sealed message is bound to.
type Binding struct {
	Award    []byte // the award ID's bytes
	Job      string // the job CID
	Executor peer.ID
}

func (b Binding) info() []byte {
	info, _ := json.Marshal([]string{domain, string(b.Award), b.Job, b.Executor.String()})
	return info
}

// Seal encrypts vals to b.Executor's identity key.
func Seal(b Binding, vals map[string]string) ([]byte, error) {
	pk, err := publicKey(b.Executor)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(vals)
	if err != nil {
		return nil, fmt.Errorf("secrets: encode: %w", err)
	}
	if len(plain) > MaxPlain {
		return nil, fmt.Errorf("secrets: %d bytes of secrets, limit %d", len(plain), MaxPlain)
	}
	ct, err := hpke.Seal(pk, kdf, aead, b.info(), plain)
	if err != nil {
		return nil, fmt.Errorf("secrets: seal to %s: %w", b.Executor, err)
	}
	return ct, nil
}

// Open decrypts a message sealed by Seal for the same binding with the
// executor's identity key.
func Open(key crypto.PrivKey, b Binding, sealed []byte) (map[string]string, error) {
	if len(sealed) > MaxSealed {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrOpen, len(sealed), MaxSealed)
	}
	sk, err := privateKey(key)
	if err != nil {
		return nil, err
	}
	plain, err := hpke.Open(sk, kdf, aead, b.info(), sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: not sealed to this node for award %x of job %s, or changed on the way (%v)", ErrOpen, b.Award, b.Job, err)
	}
	var vals map[string]string
	if err := json.Unmarshal(plain, &vals); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", ErrOpen, err)
	}
	return vals, nil
}

// publicKey is the X25519 HPKE key of a peer's Ed25519 identity.
func publicKey(p peer.ID) (hpke.PublicKey, error) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: peer %s: %v", ErrKey, p, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: peer %s has a %s key", ErrKey, p, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	pt, err := new(edwards25519.Point).SetBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: peer %s: %v", ErrKey, p, err)
	}
	pk, err := kem.NewPublicKey(pt.BytesMontgomery())
	if err != nil {
		return nil, fmt.Errorf("%w: peer %s: %v", ErrKey, p, err)
	}
	return pk, nil
}

// privateKey is the X25519 HPKE key behind an Ed25519 identity key.
func privateKey(key crypto.PrivKey) (hpke.PrivateKey, error) {
	if key == nil || key.Type() != crypto.Ed25519 {
		return nil, ErrKey
	}
	raw, err := key.Raw() // libp2p: seed || public key
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	h := sha512.Sum512(raw[:ed25519.SeedSize])
	x, err := ecdh.X25519().NewPrivateKey(h[:32])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	sk, err := hpke.NewDHKEMPrivateKey(x)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return sk, nil
}
