package dag

import (
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
)

func TestMapOmitsZeroValues(t *testing.T) {
	m := NewMap()
	m.Str("s", "")
	m.Int("i", 0)
	m.Bytes("b", nil)
	m.Link("l", cid.Undef)
	m.Strs("ss", nil)
	m.StrMap("sm", map[string]string{})
	m.Sub("sub", NewMap())
	m.Maps("ms", nil)
	m.BytesList("bl", nil)
	if m.Len() != 0 {
		t.Fatalf("%d entries set from zero values", m.Len())
	}
	b, err := m.Encode()
	if err != nil || len(b) != 1 || b[0] != 0xa0 {
		t.Fatalf("empty map encodes to %x, %v", b, err)
	}
}

func TestReader(t *testing.T) {
	c := CID([]byte{0xa0})
	inner := NewMap()
	inner.Str("name", "x")
	inner.Str("extra", "y")
	m := NewMap()
	m.Link("link", c)
	m.Int("n", 7)
	m.Node("inner", inner.Build())
	m.Strs("list", []string{"a", "b"})
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	n, err := Decode(b, 1024)
	if err != nil {
		t.Fatal(err)
	}

	r := NewReader(n, "")
	if r.Link("link") != c || r.Int("n") != 7 || len(r.Strs("list", 2)) != 2 {
		t.Fatal("getters")
	}
	in := r.Map("inner")
	if in.Str("name") != "x" {
		t.Fatal("nested getter")
	}
	in.Done()
	var fe *FieldError
	if err := r.Err(); !errors.As(err, &fe) || fe.Path != "inner.extra" || !errors.Is(err, ErrUnknownField) {
		t.Fatalf("unknown nested field: %v", err)
	}

	r = NewReader(n, "")
	r.Str("n") // wrong kind
	if err := r.Err(); !errors.As(err, &fe) || fe.Path != "n" {
		t.Fatalf("wrong kind: %v", err)
	}

	r = NewReader(n, "root")
	r.Strs("list", 1)
	if err := r.Err(); !errors.As(err, &fe) || fe.Path != "root.list" {
		t.Fatalf("list limit: %v", err)
	}

	if _, err := Decode(b, len(b)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode over the bound: %v", err)
	}
	if NewReader(nil, "").Err() == nil {
		t.Fatal("reader over nothing has no error")
	}
	var _ datamodel.Node = n
}
