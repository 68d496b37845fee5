package wasm

import (
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/shoalnet/shoal/exec"
)

// coreFeatures are the WebAssembly features the executor accepts: Core 2.0
// without reference types. Reference types bring table.grow (and
// table.fill, table.set, several tables), through which a module could
// allocate host memory that no linear-memory limit sees: wazero backs a
// table with a Go slice of 8-byte references and grows it up to the
// table's maximum, or to 2^32 entries without one. Without them a table
// keeps the size it declares, which [tableEntries] counts before
// compiling. Go, TinyGo and Rust modules need no reference types to run
// (Rust's default target feature only re-encodes call_indirect, which
// still decodes).
const coreFeatures = api.CoreFeaturesV2 &^ api.CoreFeatureReferenceTypes

// MaxTableEntries bounds the entries of all the tables of a module, 8 MiB
// of references. A Go program has one entry per function (a large one has
// about 100,000); a module above the bound is refused.
const MaxTableEntries = 1 << 20

// CallStackMaxBytes bounds the host memory the call stack of one run
// allocates (256 MiB), outside the task's memory limit. wazero v1.12's
// compiler keeps a module's stack in a Go slice that doubles each time it
// is full until it passes a fixed ceiling of 50,000,000 bytes
// (callStackCeiling in internal/engine/wazevo, a constant no option
// changes), then traps with a stack overflow: the last stack is at most
// about 100 MB, and the copies made on the way about as much again.
// TestDeepRecursionBounded measures it. A node should reserve it per
// concurrent wasm run.
const CallStackMaxBytes = 256 << 20

// tableEntryBytes is what wazero allocates per table entry (a uintptr).
const tableEntryBytes = 8

// errMalformed reports bytes the table scan could not read; wazero would
// refuse them too.
var errMalformed = errors.New("malformed module")

// tableEntries returns how many table entries the module declares, imports
// included, from its import and table sections; it stops counting past
// MaxTableEntries. It reads nothing else and runs in time linear in
// len(code).
func tableEntries(code []byte) (uint64, error) {
	r := &wreader{b: code}
	if magic := r.bytes(8); magic == nil || string(magic) != "\x00asm\x01\x00\x00\x00" {
		return 0, fmt.Errorf("%w: no wasm 1 header", errMalformed)
	}
	var total uint64
	for !r.done() {
		id := r.byte()
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return 0, r.err
		}
		sec := &wreader{b: body}
		switch id {
		case 2: // imports
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				sec.name()
				sec.name()
				switch kind := sec.byte(); kind {
				case 0x00: // func: type index
					sec.u32()
				case 0x01: // table
					if total += sec.table(); total > MaxTableEntries {
						return total, nil
					}
				case 0x02: // memory
					sec.limits()
				case 0x03: // global: value type, mutability
					sec.valType()
					sec.byte()
				case 0x04: // tag: attribute, type index
					sec.byte()
					sec.u32()
				default:
					sec.fail("import kind 0x%02x", kind)
				}
			}
		case 4: // tables
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				if total += sec.table(); total > MaxTableEntries {
					return total, nil
				}
			}
		}
		if sec.err != nil {
			return 0, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	return total, nil
}

// checkTables refuses a module whose tables are above MaxTableEntries and
// returns the bytes its tables take.
func checkTables(code []byte) (int64, error) {
	n, err := tableEntries(code)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", exec.ErrInvalidModule, err)
	}
	if n > MaxTableEntries {
		return 0, fmt.Errorf("%w: the module's tables declare %d entries, more than this executor's bound of %d (%d bytes of host memory); refused before compiling",
			exec.ErrInvalidModule, n, MaxTableEntries, MaxTableEntries*tableEntryBytes)
	}
	return int64(n) * tableEntryBytes, nil
}

// wreader reads the binary format; the first error sticks and later reads
// return zero values.
type wreader struct {
	b   []byte
	off int
	err error
}

func (r *wreader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d: %s", errMalformed, r.off, fmt.Sprintf(format, a...))
	}
}

func (r *wreader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *wreader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// peek returns the next byte without reading it, 0 at the end.
func (r *wreader) peek() byte {
	if r.err != nil || r.off >= len(r.b) {
		return 0
	}
	return r.b[r.off]
}

func (r *wreader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("length %d past the end", n)
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (r *wreader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= bits {
			r.fail("LEB128 longer than %d bits", bits)
			return 0
		}
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if bits < 64 && v>>bits != 0 {
				r.fail("LEB128 above %d bits", bits)
				return 0
			}
			return v
		}
	}
}

func (r *wreader) u32() uint32 { return uint32(r.uleb(32)) }

func (r *wreader) name() { r.bytes(int(r.u32())) }

// limits reads a limits type and returns its minimum.
func (r *wreader) limits() uint64 {
	flag := r.byte()
	bits := uint(32)
	if flag&0x04 != 0 { // 64-bit (memory64)
		bits = 64
	}
	if flag > 0x07 {
		r.fail("limits flag 0x%02x", flag)
		return 0
	}
	lo := r.uleb(bits)
	if flag&0x01 != 0 {
		r.uleb(bits)
	}
	return lo
}

// table reads a table type and returns its minimum, the size it keeps
// without reference types.
func (r *wreader) table() uint64 {
	switch t := r.byte(); t {
	case 0x70, 0x6f: // funcref, externref
	default:
		r.fail("table element type 0x%02x", t)
		return 0
	}
	if flag := r.peek(); flag&0x06 != 0 {
		r.fail("table limits flag 0x%02x", flag) // shared or 64-bit tables
		return 0
	}
	return r.limits()
}

// valType reads a value type.
func (r *wreader) valType() {
	switch t := r.byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		r.fail("value type 0x%02x", t)
	}
}
