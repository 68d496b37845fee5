package wasm_test

import "github.com/shoalnet/shoal/exec/wasm"

// A tiny encoder of the WebAssembly binary format, for the hand-written
// hostile modules of the tests (wazero has no text-format parser).

func uleb(v uint64) []byte { return wasm.AppendULEB(nil, v) }

func sleb(v int64) []byte { return wasm.AppendSLEB(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// vec encodes a vector of already-encoded items.
func vec(items ...[]byte) []byte { return cat(uleb(uint64(len(items))), cat(items...)) }

func section(id byte, content []byte) []byte {
	return cat([]byte{id}, uleb(uint64(len(content))), content)
}

// module assembles a module of one function type () -> (), the given
// sections in between, and function 0 exported as _start.
func module(sections ...[]byte) []byte {
	return cat([]byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00},
		section(1, vec([]byte{0x60, 0x00, 0x00})), // type 0: () -> ()
		cat(sections...))
}

func funcs(n int) []byte {
	idx := make([][]byte, n)
	for i := range idx {
		idx[i] = []byte{0x00}
	}
	return section(3, vec(idx...))
}

var exportStart = section(7, vec(cat([]byte{6}, []byte("_start"), []byte{0x00, 0x00})))

// code encodes a code section of bodies (each: locals then instructions,
// without the final end).
func code(bodies ...[]byte) []byte {
	enc := make([][]byte, len(bodies))
	for i, b := range bodies {
		b = append(b, 0x0b)
		enc[i] = cat(uleb(uint64(len(b))), b)
	}
	return section(10, vec(enc...))
}

// tableSection declares one funcref table of min entries, with max if max >= 0.
func tableSection(min uint64, max int64) []byte {
	if max < 0 {
		return section(4, vec(cat([]byte{0x70, 0x00}, uleb(min))))
	}
	return section(4, vec(cat([]byte{0x70, 0x01}, uleb(min), uleb(uint64(max)))))
}
