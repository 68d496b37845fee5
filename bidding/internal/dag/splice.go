package dag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Splicing one top-level entry into or out of an encoded map: what a
// signed message needs twice (its signing bytes are its encoding without
// "sig"), done on the bytes instead of building and encoding the map a
// second time. The input must be canonical dag-cbor, as Encode writes it
// (definite lengths, keys sorted length-first); the output then is too.

// ErrSplice is returned for a block that is not a canonical map.
var ErrSplice = errors.New("dag: not a canonical map")

// head reads the CBOR item head at b[i:]: its major type, argument and
// length. Indefinite lengths (not dag-cbor) are refused.
func head(b []byte, i int) (major byte, arg uint64, n int, err error) {
	if i >= len(b) {
		return 0, 0, 0, ErrSplice
	}
	major, ai := b[i]>>5, b[i]&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), 1, nil
	case ai == 24 && i+2 <= len(b):
		return major, uint64(b[i+1]), 2, nil
	case ai == 25 && i+3 <= len(b):
		return major, uint64(binary.BigEndian.Uint16(b[i+1:])), 3, nil
	case ai == 26 && i+5 <= len(b):
		return major, uint64(binary.BigEndian.Uint32(b[i+1:])), 5, nil
	case ai == 27 && i+9 <= len(b):
		return major, binary.BigEndian.Uint64(b[i+1:]), 9, nil
	}
	return 0, 0, 0, ErrSplice
}

// skip returns the offset just past the item at b[i:].
func skip(b []byte, i int, depth int) (int, error) {
	if depth > 64 {
		return 0, ErrSplice
	}
	major, arg, n, err := head(b, i)
	if err != nil {
		return 0, err
	}
	i += n
	switch major {
	case 0, 1, 7: // integers, simple values and floats: the head is all
		return i, nil
	case 2, 3:
		if arg > uint64(len(b)-i) {
			return 0, ErrSplice
		}
		return i + int(arg), nil
	case 4, 5:
		items := arg
		if major == 5 {
			items *= 2
		}
		if items > uint64(len(b)-i) { // every item is at least a byte
			return 0, ErrSplice
		}
		for range items {
			if i, err = skip(b, i, depth+1); err != nil {
				return 0, err
			}
		}
		return i, nil
	default: // 6, a tag: one item follows
		return skip(b, i, depth+1)
	}
}

// mapHead encodes the head of a map of n entries, minimally.
func mapHead(n uint64) []byte {
	switch {
	case n < 24:
		return []byte{0xa0 | byte(n)}
	case n <= 0xff:
		return []byte{0xb8, byte(n)}
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16([]byte{0xb9}, uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32([]byte{0xba}, uint32(n))
	}
	return binary.BigEndian.AppendUint64([]byte{0xbb}, n)
}

// entry is one top-level entry of an encoded map: its key and where it
// (key and value) starts and ends.
type entry struct {
	key        []byte
	start, end int
}

// entries lists the top-level entries of the map block, after a head of
// hn bytes.
func entries(block []byte) (list []entry, hn int, err error) {
	major, count, hn, err := head(block, 0)
	if err != nil || major != 5 {
		return nil, 0, ErrSplice
	}
	i := hn
	for range count {
		km, kl, kn, err := head(block, i)
		if err != nil || km != 3 || kl > uint64(len(block)-i-kn) {
			return nil, 0, ErrSplice
		}
		key := block[i+kn : i+kn+int(kl)]
		end, err := skip(block, i+kn+int(kl), 1)
		if err != nil {
			return nil, 0, err
		}
		list = append(list, entry{key: key, start: i, end: end})
		i = end
	}
	if i != len(block) {
		return nil, 0, ErrSplice
	}
	return list, hn, nil
}

// keyLess is dag-cbor's key order: shorter first, then bytewise.
func keyLess(a, b []byte) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return bytes.Compare(a, b) < 0
}

// SpliceOut returns the map block without its top-level entry key (the
// block itself, copied, when it has none).
func SpliceOut(block []byte, key string) ([]byte, error) {
	list, hn, err := entries(block)
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		if string(e.key) == key {
			out := append(mapHead(uint64(len(list)-1)), block[hn:e.start]...)
			return append(out, block[e.end:]...), nil
		}
	}
	return bytes.Clone(block), nil
}

// SpliceIn returns the map block with the entry key = value added, where
// value is the encoded value (an item). The block must not hold key.
func SpliceIn(block []byte, key string, value []byte) ([]byte, error) {
	list, hn, err := entries(block)
	if err != nil {
		return nil, err
	}
	at := len(block)
	for _, e := range list {
		if string(e.key) == key {
			return nil, fmt.Errorf("%w: key %q is there", ErrSplice, key)
		}
		if keyLess([]byte(key), e.key) {
			at = e.start
			break
		}
	}
	out := append(mapHead(uint64(len(list)+1)), block[hn:at]...)
	out = append(out, textHead(len(key))...)
	out = append(out, key...)
	out = append(out, value...)
	return append(out, block[at:]...), nil
}

// textHead encodes the head of a text string of n bytes.
func textHead(n int) []byte {
	h := mapHead(uint64(n))
	h[0] = h[0]&0x1f | 0x60
	return h
}

// BytesItem encodes b as a CBOR byte string.
func BytesItem(b []byte) []byte {
	h := mapHead(uint64(len(b)))
	h[0] = h[0]&0x1f | 0x40
	return append(h, b...)
}
