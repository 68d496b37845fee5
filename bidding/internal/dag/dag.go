// Package dag holds the small dag-cbor toolkit shared by bidding and
// bidding/jobspec: a builder for canonical maps (fields that hold their zero
// value are omitted), a strict reader that names the path of every bad field
// and reports unknown ones, and the CID of a block.
//
// Canonical form is enforced by the callers the simple way: decode, rebuild
// the typed value, re-encode it and compare the bytes. dag-cbor encoding is
// deterministic (map keys sorted length-first, minimal integers), so any
// block that is not exactly what this package would write is rejected.
//
// It depends on go-ipld-prime only and must not import anything of Shoal.
package dag

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"
)

// ErrTooLarge is returned by Decode when a block exceeds the caller's bound.
var ErrTooLarge = errors.New("block too large")

// Prefix is the CID prefix of every block Shoal creates: CIDv1, dag-cbor,
// sha2-256.
var Prefix = cid.Prefix{
	Version:  1,
	Codec:    cid.DagCBOR,
	MhType:   multihash.SHA2_256,
	MhLength: -1,
}

// CID returns the CIDv1 (dag-cbor, sha2-256) of a block.
func CID(block []byte) cid.Cid {
	c, err := Prefix.Sum(block)
	if err != nil {
		// Sum fails only for unknown hash functions; sha2-256 is built in.
		panic(fmt.Sprintf("dag: hashing block: %v", err))
	}
	return c
}

// Encode serializes a node as dag-cbor.
func Encode(n datamodel.Node) ([]byte, error) {
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		return nil, fmt.Errorf("dag-cbor encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode parses a dag-cbor block of at most max bytes. The length is
// checked before parsing, and the decoder's allocation budget is tied to
// max so a small block cannot claim a huge collection.
func Decode(block []byte, max int) (datamodel.Node, error) {
	if len(block) > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(block), max)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	opts := dagcbor.DecodeOptions{
		AllowLinks:            true,
		AllocationBudget:      int64(max)*4 + 4096,
		MaxCollectionPrealloc: 64,
		MaxDepth:              16,
	}
	if err := opts.Decode(nb, bytes.NewReader(block)); err != nil {
		return nil, fmt.Errorf("dag-cbor decode: %w", err)
	}
	return nb.Build(), nil
}

// Map builds a dag-cbor map. Setters skip zero values (empty string, 0,
// nil or empty slices and maps, cid.Undef, empty sub-maps), which is what
// makes "omitted" and "zero" the same thing on the wire.
type Map struct {
	keys []string
	vals []datamodel.Node
}

// NewMap returns an empty map builder.
func NewMap() *Map { return &Map{} }

// Len is the number of entries set so far.
func (m *Map) Len() int { return len(m.keys) }

// Node sets key to an arbitrary node (always, even if empty).
func (m *Map) Node(key string, n datamodel.Node) {
	m.keys = append(m.keys, key)
	m.vals = append(m.vals, n)
}

// Str sets a string unless it is empty.
func (m *Map) Str(key, v string) {
	if v != "" {
		m.Node(key, basicnode.NewString(v))
	}
}

// Int sets an integer unless it is 0.
func (m *Map) Int(key string, v int64) {
	if v != 0 {
		m.Node(key, basicnode.NewInt(v))
	}
}

// Bool sets a boolean.
func (m *Map) Bool(key string, v bool) { m.Node(key, basicnode.NewBool(v)) }

// IntAlways sets an integer even when it is 0.
func (m *Map) IntAlways(key string, v int64) { m.Node(key, basicnode.NewInt(v)) }

// Bytes sets a byte string unless it is empty.
func (m *Map) Bytes(key string, v []byte) {
	if len(v) > 0 {
		m.Node(key, basicnode.NewBytes(v))
	}
}

// Link sets a link (CBOR tag 42) unless c is cid.Undef.
func (m *Map) Link(key string, c cid.Cid) {
	if c.Defined() {
		m.Node(key, basicnode.NewLink(cidlink.Link{Cid: c}))
	}
}

// Strs sets a list of strings unless it is empty.
func (m *Map) Strs(key string, v []string) {
	if len(v) == 0 {
		return
	}
	items := make([]datamodel.Node, len(v))
	for i, s := range v {
		items[i] = basicnode.NewString(s)
	}
	m.Node(key, List(items))
}

// BytesList sets a list of byte strings unless it is empty.
func (m *Map) BytesList(key string, v [][]byte) {
	if len(v) == 0 {
		return
	}
	items := make([]datamodel.Node, len(v))
	for i, b := range v {
		items[i] = basicnode.NewBytes(b)
	}
	m.Node(key, List(items))
}

// StrMap sets a map of strings unless it is empty.
func (m *Map) StrMap(key string, v map[string]string) {
	if len(v) == 0 {
		return
	}
	sub := NewMap()
	for k, s := range v {
		sub.Node(k, basicnode.NewString(s))
	}
	m.Node(key, sub.Build())
}

// Sub sets a nested map unless it has no entries.
func (m *Map) Sub(key string, sub *Map) {
	if sub != nil && sub.Len() > 0 {
		m.Node(key, sub.Build())
	}
}

// Maps sets a list of maps unless it is empty.
func (m *Map) Maps(key string, subs []*Map) {
	if len(subs) == 0 {
		return
	}
	items := make([]datamodel.Node, len(subs))
	for i, s := range subs {
		items[i] = s.Build()
	}
	m.Node(key, List(items))
}

// Build returns the map as an IPLD node.
func (m *Map) Build() datamodel.Node {
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, err := nb.BeginMap(int64(len(m.keys)))
	if err != nil {
		panic(err) // basicnode map assemblers do not fail on begin
	}
	for i, k := range m.keys {
		if err := ma.AssembleKey().AssignString(k); err != nil {
			panic(fmt.Sprintf("dag: duplicate key %q", k)) // programming error
		}
		if err := ma.AssembleValue().AssignNode(m.vals[i]); err != nil {
			panic(err)
		}
	}
	if err := ma.Finish(); err != nil {
		panic(err)
	}
	return nb.Build()
}

// Encode builds the map and serializes it as dag-cbor.
func (m *Map) Encode() ([]byte, error) { return Encode(m.Build()) }

// List builds a list node.
func List(items []datamodel.Node) datamodel.Node {
	nb := basicnode.Prototype.List.NewBuilder()
	la, err := nb.BeginList(int64(len(items)))
	if err != nil {
		panic(err)
	}
	for _, it := range items {
		if err := la.AssembleValue().AssignNode(it); err != nil {
			panic(err)
		}
	}
	if err := la.Finish(); err != nil {
		panic(err)
	}
	return nb.Build()
}

// Flag sets true; false is omitted.
func (m *Map) Flag(key string, v bool) {
	if v {
		m.Node(key, basicnode.NewBool(true))
	}
}
