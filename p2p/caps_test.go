package p2p

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func capRec(id peer.ID, seq uint64, expires time.Time) *Capabilities {
	return &Capabilities{
		Version: CapVersion, Peer: id, Seq: seq, Expires: expires,
		Engines: []string{"wasm", "docker"}, CPU: 4, Memory: 8 << 30,
		Labels: map[string]string{"region": "eu"}, Software: "shoal/test",
	}
}

func TestCapabilityRecordValidation(t *testing.T) {
	key, id := newKey(t)
	otherKey, otherID := newKey(t)
	now := time.Now()
	v := CapValidator{Now: func() time.Time { return now }}
	seal := func(c *Capabilities, k crypto.PrivKey) []byte {
		b, err := SealCapabilities(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := seal(capRec(id, 1, now.Add(time.Minute)), key)

	tampered := bytes.Replace(good, []byte(`"cpu":4`), []byte(`"cpu":9`), 1)
	if bytes.Equal(tampered, good) {
		t.Fatal("tampering did not change the record")
	}
	big := capRec(id, 1, now.Add(time.Minute))
	big.Labels = map[string]string{}
	for i := 0; i < 40; i++ {
		big.Labels[strings.Repeat("k", 10)+string(rune('a'+i))] = strings.Repeat("v", 200)
	}
	tooManyLabels := capRec(id, 1, now.Add(time.Minute))
	tooManyLabels.Labels = map[string]string{}
	for i := 0; i < MaxLabels+1; i++ {
		tooManyLabels.Labels[string(rune('A'+i))] = "x"
	}
	withPeers := func(n int) *Capabilities {
		c := capRec(id, 1, now.Add(time.Minute))
		for range n {
			c.Peers = append(c.Peers, otherID)
		}
		return c
	}

	tests := []struct {
		name  string
		key   string
		value []byte
		want  error
	}{
		{"peers listed", CapKey(id), seal(withPeers(MaxRecordPeers), key), nil},
		{"too many peers", CapKey(id), seal(withPeers(MaxRecordPeers+1), key), ErrCapMalformed},
		{"valid", CapKey(id), good, nil},
		{"forged signature", CapKey(id), tampered, ErrCapMalformed},
		{"signed by another peer", CapKey(id), seal(capRec(id, 1, now.Add(time.Minute)), otherKey), ErrCapSigner},
		{"stored under another peer", CapKey(otherID), good, ErrCapSigner},
		{"expired", CapKey(id), seal(capRec(id, 1, now.Add(-time.Second)), key), ErrCapExpired},
		{"too many labels", CapKey(id), seal(tooManyLabels, key), ErrCapMalformed},
		{"oversized", CapKey(id), append(good, make([]byte, MaxCapRecordSize)...), ErrCapTooLarge},
		{"garbage", CapKey(id), []byte("not a record"), ErrCapMalformed},
		{"wrong namespace", "/other/" + string(id), good, ErrCapMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(tc.key, tc.value)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate error = %v, want %v", err, tc.want)
			}
		})
	}

	if _, err := SealCapabilities(big, key); !errors.Is(err, ErrCapTooLarge) {
		t.Fatalf("sealing an oversized record: err = %v, want ErrCapTooLarge", err)
	}
}

func TestCapabilitySelectPrefersNewestSequence(t *testing.T) {
	key, id := newKey(t)
	now := time.Now()
	v := CapValidator{Now: func() time.Time { return now }}
	var vals [][]byte
	for _, seq := range []uint64{5, 9, 7} {
		b, err := SealCapabilities(capRec(id, seq, now.Add(time.Minute)), key)
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, b)
	}
	i, err := v.Select(CapKey(id), vals)
	if err != nil || i != 1 {
		t.Fatalf("Select = %d, %v; want 1 (seq 9)", i, err)
	}
	// A stale (lower sequence) record never wins against a newer one, even
	// when it comes first, and an invalid newer record is ignored.
	expired, _ := SealCapabilities(capRec(id, 100, now.Add(-time.Minute)), key)
	i, err = v.Select(CapKey(id), [][]byte{vals[0], expired})
	if err != nil || i != 0 {
		t.Fatalf("Select with an expired newer record = %d, %v; want 0", i, err)
	}
}

func TestCapabilityKeys(t *testing.T) {
	_, id := newKey(t)
	keys := CapabilityKeys(capRec(id, 1, time.Now()))
	if len(keys) != 4 { // node, wasm, docker, region=eu
		t.Fatalf("got %d keys, want 4", len(keys))
	}
	if !keys[0].Equals(WellKnownKey("shoal/node")) {
		t.Fatalf("first key %s is not the node key", keys[0])
	}
	if WellKnownKey(EngineKeyName("wasm")).Equals(WellKnownKey(EngineKeyName("docker"))) {
		t.Fatal("engine keys collide")
	}
}

func FuzzOpenCapabilities(f *testing.F) {
	key, _, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPrivateKey(key)
	good, _ := SealCapabilities(capRec(id, 1, time.Now().Add(time.Hour)), key)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := OpenCapabilities(data)
		if err != nil {
			return
		}
		// Whatever opens must be signed by the peer it names and re-seal.
		if c.Peer == "" {
			t.Fatal("opened a record without a peer")
		}
		_ = CapValidator{}.Validate(CapKey(c.Peer), data)
	})
}

func TestSwarmKey(t *testing.T) {
	k, err := GenerateSwarmKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeSwarmKey(k); err != nil {
		t.Fatalf("decode generated key: %v", err)
	}
	if _, err := DecodeSwarmKey([]byte("/key/swarm/psk/1.0.0/\n/base16/\nzz\n")); err == nil {
		t.Fatal("bad key accepted")
	}
}

func TestParseBootstrap(t *testing.T) {
	_, id := newKey(t)
	good := "/ip4/127.0.0.1/tcp/4001/p2p/" + id.String()
	infos, err := ParseBootstrap([]string{good, "/ip4/127.0.0.1/udp/4001/quic-v1/p2p/" + id.String()})
	if err != nil || len(infos) != 1 || len(infos[0].Addrs) != 2 {
		t.Fatalf("ParseBootstrap = %v, %v; want one peer with two addresses", infos, err)
	}
	for _, bad := range []string{"/ip4/garbage", "/ip4/127.0.0.1/tcp/4001", "nonsense"} {
		if _, err := ParseBootstrap([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseBootstrap(%q) error = %v; want an error naming it", bad, err)
		}
	}
}
