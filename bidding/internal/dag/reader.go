package dag

import (
	"errors"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
)

// ErrUnknownField is wrapped by the error for a map key the reader was
// never asked about.
var ErrUnknownField = errors.New("unknown field")

// FieldError names the path of a bad field ("engine.wasm.module",
// "inputs[2].cid").
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Reader reads the fields of a decoded map strictly. Getters return the zero
// value for an absent key; a key holding the wrong kind records an error.
// The first error wins and later calls are no-ops returning zero values,
// so a decoder can read every field and check Err once at the end.
type Reader struct {
	n    datamodel.Node
	path string
	used map[string]bool
	err  *error
}

// NewReader starts reading n, which must be a map, at the given path ("" for
// the root).
func NewReader(n datamodel.Node, path string) *Reader {
	var err error
	r := &Reader{n: n, path: path, used: map[string]bool{}, err: &err}
	if n == nil || n.Kind() != datamodel.Kind_Map {
		r.fail("", fmt.Errorf("expected a map, got %s", kindOf(n)))
	}
	return r
}

func kindOf(n datamodel.Node) string {
	if n == nil {
		return "nothing"
	}
	return n.Kind().String()
}

// Join returns path+"."+key, or key at the root.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index returns path+"[i]".
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// Path is the path of the map being read.
func (r *Reader) Path() string { return r.path }

// Fail records an error for key (or for the map itself when key is "").
func (r *Reader) Fail(key string, err error) {
	r.fail(key, err)
}

func (r *Reader) fail(key string, err error) {
	if *r.err != nil {
		return
	}
	p := r.path
	if key != "" {
		p = Join(r.path, key)
	}
	*r.err = &FieldError{Path: p, Err: err}
}

// Failed reports whether an error has been recorded.
func (r *Reader) Failed() bool { return *r.err != nil }

// Err returns the first error, after checking that every key of the map was
// read (an unread key is an unknown field). Call it once, after all getters,
// on the root reader; sub-readers share the root's error but must call
// Done to check their own keys.
func (r *Reader) Err() error {
	r.Done()
	return *r.err
}

// Done checks that every key of this map was read.
func (r *Reader) Done() {
	if *r.err != nil || r.n == nil || r.n.Kind() != datamodel.Kind_Map {
		return
	}
	var unknown []string
	it := r.n.MapIterator()
	for !it.Done() {
		k, _, err := it.Next()
		if err != nil {
			r.fail("", err)
			return
		}
		ks, err := k.AsString()
		if err != nil {
			r.fail("", fmt.Errorf("map key: %w", err))
			return
		}
		if !r.used[ks] {
			unknown = append(unknown, ks)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		r.fail(unknown[0], ErrUnknownField)
	}
}

func (r *Reader) get(key string, kind datamodel.Kind) datamodel.Node {
	r.used[key] = true
	if *r.err != nil || r.n == nil || r.n.Kind() != datamodel.Kind_Map {
		return nil
	}
	v, err := r.n.LookupByString(key)
	if err != nil || v == nil || v.IsAbsent() {
		return nil
	}
	if v.Kind() != kind {
		r.fail(key, fmt.Errorf("expected %s, got %s", kind, v.Kind()))
		return nil
	}
	return v
}

// Has reports whether key is present (it does not mark the key as read).
func (r *Reader) Has(key string) bool {
	if r.n == nil || r.n.Kind() != datamodel.Kind_Map {
		return false
	}
	v, err := r.n.LookupByString(key)
	return err == nil && v != nil && !v.IsAbsent()
}

// Str reads a string.
func (r *Reader) Str(key string) string {
	v := r.get(key, datamodel.Kind_String)
	if v == nil {
		return ""
	}
	s, err := v.AsString()
	if err != nil {
		r.fail(key, err)
	}
	return s
}

// Int reads an integer.
func (r *Reader) Int(key string) int64 {
	v := r.get(key, datamodel.Kind_Int)
	if v == nil {
		return 0
	}
	i, err := v.AsInt()
	if err != nil {
		r.fail(key, err)
	}
	return i
}

// Bool reads a boolean; present reports whether the key was there.
func (r *Reader) Bool(key string) (v, present bool) {
	n := r.get(key, datamodel.Kind_Bool)
	if n == nil {
		return false, false
	}
	b, err := n.AsBool()
	if err != nil {
		r.fail(key, err)
	}
	return b, true
}

// Bytes reads a byte string.
func (r *Reader) Bytes(key string) []byte {
	v := r.get(key, datamodel.Kind_Bytes)
	if v == nil {
		return nil
	}
	b, err := v.AsBytes()
	if err != nil {
		r.fail(key, err)
	}
	return b
}

// Link reads a link (CBOR tag 42).
func (r *Reader) Link(key string) cid.Cid {
	v := r.get(key, datamodel.Kind_Link)
	if v == nil {
		return cid.Undef
	}
	l, err := v.AsLink()
	if err != nil {
		r.fail(key, err)
		return cid.Undef
	}
	cl, ok := l.(cidlink.Link)
	if !ok {
		r.fail(key, fmt.Errorf("unsupported link type %T", l))
		return cid.Undef
	}
	return cl.Cid
}

// List reads a list of at most max items and calls each for every item.
func (r *Reader) List(key string, max int, each func(path string, item datamodel.Node)) {
	v := r.get(key, datamodel.Kind_List)
	if v == nil {
		return
	}
	p := Join(r.path, key)
	if n := v.Length(); n > int64(max) {
		r.fail(key, fmt.Errorf("%d items, limit %d", n, max))
		return
	}
	it := v.ListIterator()
	for !it.Done() && *r.err == nil {
		i, item, err := it.Next()
		if err != nil {
			r.fail(key, err)
			return
		}
		each(Index(p, int(i)), item)
	}
}

// Strs reads a list of at most max strings.
func (r *Reader) Strs(key string, max int) []string {
	var out []string
	r.List(key, max, func(path string, item datamodel.Node) {
		s, err := item.AsString()
		if err != nil {
			r.failPath(path, fmt.Errorf("expected string, got %s", item.Kind()))
			return
		}
		out = append(out, s)
	})
	return out
}

// BytesList reads a list of at most max byte strings.
func (r *Reader) BytesList(key string, max int) [][]byte {
	var out [][]byte
	r.List(key, max, func(path string, item datamodel.Node) {
		b, err := item.AsBytes()
		if err != nil {
			r.failPath(path, fmt.Errorf("expected bytes, got %s", item.Kind()))
			return
		}
		out = append(out, b)
	})
	return out
}

// StrMap reads a map of at most max string values.
func (r *Reader) StrMap(key string, max int) map[string]string {
	v := r.get(key, datamodel.Kind_Map)
	if v == nil {
		return nil
	}
	if n := v.Length(); n > int64(max) {
		r.fail(key, fmt.Errorf("%d entries, limit %d", n, max))
		return nil
	}
	p := Join(r.path, key)
	out := make(map[string]string, v.Length())
	it := v.MapIterator()
	for !it.Done() {
		k, val, err := it.Next()
		if err != nil {
			r.fail(key, err)
			return nil
		}
		ks, err := k.AsString()
		if err != nil {
			r.fail(key, err)
			return nil
		}
		s, err := val.AsString()
		if err != nil {
			r.failPath(Join(p, ks), fmt.Errorf("expected string, got %s", val.Kind()))
			return nil
		}
		out[ks] = s
	}
	return out
}

// Map returns a reader for a nested map. An absent key gives a reader over
// nothing, whose getters all return zero values.
func (r *Reader) Map(key string) *Reader {
	v := r.get(key, datamodel.Kind_Map)
	return &Reader{n: v, path: Join(r.path, key), used: map[string]bool{}, err: r.err}
}

// Sub returns a reader for an item of a list (from List's callback) that
// must be a map; it shares this reader's error.
func (r *Reader) Sub(path string, n datamodel.Node) *Reader {
	sub := &Reader{n: n, path: path, used: map[string]bool{}, err: r.err}
	if n == nil || n.Kind() != datamodel.Kind_Map {
		sub.fail("", fmt.Errorf("expected a map, got %s", kindOf(n)))
	}
	return sub
}

// FailPath records an error at an absolute path.
func (r *Reader) FailPath(path string, err error) { r.failPath(path, err) }

func (r *Reader) failPath(path string, err error) {
	if *r.err == nil {
		*r.err = &FieldError{Path: path, Err: err}
	}
}

// Flag reads a boolean written by Map.Flag; a present false is not
// canonical (Map.Flag omits it), so callers re-encoding to compare catch it.
func (r *Reader) Flag(key string) bool {
	v := r.get(key, datamodel.Kind_Bool)
	if v == nil {
		return false
	}
	b, err := v.AsBool()
	if err != nil {
		r.fail(key, err)
	}
	return b
}
