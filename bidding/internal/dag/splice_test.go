package dag

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// randomMap fills a map with n random entries of every kind the builder
// has (key "sig" left out), and returns its keys.
func randomMap(r *rand.Rand, n int) *Map {
	m := NewMap()
	seen := map[string]bool{"sig": true}
	for len(seen) <= n {
		k := strings.Repeat(string(rune('a'+r.IntN(26))), 1+r.IntN(4)) + fmt.Sprint(r.IntN(3))[:r.IntN(2)]
		if seen[k] {
			continue
		}
		seen[k] = true
		switch r.IntN(8) {
		case 0:
			m.Str(k, strings.Repeat("x", 1+r.IntN(300)))
		case 1:
			m.IntAlways(k, r.Int64N(1<<40)-1<<39)
		case 2:
			m.Bytes(k, bytes.Repeat([]byte{0x63}, 1+r.IntN(70000)))
		case 3:
			m.Link(k, CID([]byte(k)))
		case 4:
			m.Strs(k, []string{"sig", k})
		case 5:
			sub := NewMap()
			sub.Str("sig", "not the top level's")
			m.Sub(k, sub)
		case 6:
			m.Bool(k, r.IntN(2) == 0)
		case 7:
			m.Node(k, basicnode.NewFloat(r.Float64()))
		}
	}
	return m
}

// Splicing "sig" in and out gives what encoding the map with and without
// it gives, byte for byte, for maps of 0 to 30 entries (the map head
// changes size at 24).
func TestSplice(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		n := i % 31
		m := randomMap(r, n)
		without, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		sig := bytes.Repeat([]byte{byte(i)}, 64)
		m.Bytes("sig", sig)
		with, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		in, err := SpliceIn(without, "sig", BytesItem(sig))
		if err != nil || !bytes.Equal(in, with) {
			t.Fatalf("map of %d: SpliceIn = %x, %v\nwant %x", n, in, err, with)
		}
		out, err := SpliceOut(with, "sig")
		if err != nil || !bytes.Equal(out, without) {
			t.Fatalf("map of %d: SpliceOut = %x, %v\nwant %x", n, out, err, without)
		}
		if same, err := SpliceOut(without, "sig"); err != nil || !bytes.Equal(same, without) {
			t.Fatalf("map of %d without the key: SpliceOut = %x, %v", n, same, err)
		}
		if _, err := SpliceIn(with, "sig", BytesItem(sig)); !errors.Is(err, ErrSplice) {
			t.Fatalf("SpliceIn of a key that is there: %v", err)
		}
	}
}

// Blocks that are not a map, or are cut short or padded, are refused.
func TestSpliceRefuses(t *testing.T) {
	m := NewMap()
	m.Str("a", "b")
	m.Bytes("sig", []byte{1})
	good, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":      nil,
		"list":       {0x80},
		"truncated":  good[:len(good)-1],
		"trailing":   append(bytes.Clone(good), 0),
		"indefinite": {0xbf, 0xff},
		"int key":    {0xa1, 0x01, 0x01},
		"huge":       {0xa1, 0x61, 'a', 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, err := SpliceOut(b, "sig"); !errors.Is(err, ErrSplice) {
			t.Errorf("%s: SpliceOut err = %v, want ErrSplice", name, err)
		}
	}
}

func FuzzSpliceOut(f *testing.F) {
	m := NewMap()
	m.Str("a", "b")
	m.Bytes("sig", []byte{1})
	good, _ := m.Encode()
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = SpliceOut(b, "sig") // must not panic
	})
}
