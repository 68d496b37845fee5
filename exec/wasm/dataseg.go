package wasm

import (
	"cmp"
	"slices"
)

// Coalescing data segments before compiling.
//
// Go's linker (cmd/link, wasm) starts a new data segment at every run of
// more than 8 zero bytes, so examples/hello has 30,498 active segments for
// 0.9 MiB of data. wazero evaluates each segment's offset expression twice
// per instantiation (once to check bounds, once to copy), allocating as it
// goes: that was 5 of the 8 ms of a warm hello run (BenchmarkHello/job-warm
// profile). Merging segments that are close together, the zero bytes
// between them written out, yields the same memory at instantiation with a
// few hundred segments.
//
// The rewrite is exact only under conditions it checks, else the module is
// compiled as it came:
//   - every segment is active, in memory 0, at an i32.const offset, and
//     there is no data count section (so no memory.init or data.drop can
//     name a segment by index);
//   - no two segments overlap, so the order in which they are written does
//     not matter (Go's are not all in address order) and, once sorted by
//     offset, the gap between two neighbours is written by no segment and
//     is zero in a fresh memory: filling it with zeros changes nothing.
//
// A segment past the memory's bounds fails the instantiation before and
// after (the merged one ends where the last of its parts ended); the
// partial writes before the failure are lost with the instance either way,
// as an executor gives a module no memory of its own to import.

const (
	// mergeGap is the largest zero gap written out to join two segments.
	mergeGap = 64
	// maxMergeFill bounds the zero bytes all merges of a module add.
	maxMergeFill = 4 << 20
)

type dataSegment struct {
	off  uint64
	data []byte
}

// coalesceData returns code with its data segments merged, or code itself
// when it has nothing to merge or does not meet the conditions above. It
// reads the module once and never fails: a module it cannot read is left to
// the compiler to refuse.
func coalesceData(code []byte) []byte {
	r := &wreader{b: code}
	if magic := r.bytes(8); magic == nil || string(magic) != "\x00asm\x01\x00\x00\x00" {
		return code
	}
	start, end := -1, -1 // the data section's bytes, id included
	var body []byte
	for !r.done() {
		at := r.off
		id := r.byte()
		size := r.u32()
		b := r.bytes(int(size))
		if r.err != nil {
			return code
		}
		switch id {
		case 12: // data count: segments may be named by index
			return code
		case 11:
			start, end, body = at, r.off, b
		}
	}
	if body == nil {
		return code
	}
	segs := readSegments(body)
	if len(segs) < 2 {
		return code
	}
	merged := mergeSegments(segs)
	if len(merged) == len(segs) {
		return code
	}
	sec := encodeSegments(merged)
	out := make([]byte, 0, len(code)-(end-start)+len(sec)+6)
	out = append(out, code[:start]...)
	out = append(out, 11)
	out = appendUleb(out, uint64(len(sec)))
	out = append(out, sec...)
	return append(out, code[end:]...)
}

// readSegments reads a data section's body and returns its segments in
// offset order; nil when a segment is not an active memory-0 segment at an
// i32.const offset, or two segments overlap.
func readSegments(body []byte) []dataSegment {
	r := &wreader{b: body}
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(body)) {
		return nil
	}
	segs := make([]dataSegment, 0, n)
	for ; n > 0; n-- {
		if r.byte() != 0x00 || r.byte() != 0x41 { // active, memory 0; i32.const
			return nil
		}
		off := uint64(uint32(r.sleb32()))
		if r.byte() != 0x0b || r.err != nil { // end
			return nil
		}
		data := r.bytes(int(r.u32()))
		if r.err != nil {
			return nil
		}
		segs = append(segs, dataSegment{off: off, data: data})
	}
	if r.off != len(body) {
		return nil
	}
	slices.SortStableFunc(segs, func(a, b dataSegment) int { return cmp.Compare(a.off, b.off) })
	for i := 1; i < len(segs); i++ {
		if p := segs[i-1]; p.off+uint64(len(p.data)) > segs[i].off {
			return nil
		}
	}
	return segs
}

// mergeSegments joins neighbours at most mergeGap bytes apart. It never
// writes into the segments' bytes (they alias the module): a merged
// segment gets a buffer of its own, sized before it is filled.
func mergeSegments(segs []dataSegment) []dataSegment {
	out := make([]dataSegment, 0, len(segs))
	fill := 0
	for i := 0; i < len(segs); {
		// segs[i:j] join into one.
		j, end := i+1, segs[i].off+uint64(len(segs[i].data))
		for ; j < len(segs); j++ {
			gap := segs[j].off - end
			if gap > mergeGap || fill+int(gap) > maxMergeFill {
				break
			}
			fill += int(gap)
			end = segs[j].off + uint64(len(segs[j].data))
		}
		if j == i+1 {
			out = append(out, segs[i])
			i = j
			continue
		}
		start := segs[i].off
		data := make([]byte, end-start) // zero: the gaps stay so
		for _, s := range segs[i:j] {
			copy(data[s.off-start:], s.data)
		}
		out = append(out, dataSegment{off: start, data: data})
		i = j
	}
	return out
}

func encodeSegments(segs []dataSegment) []byte {
	n := 0
	for _, s := range segs {
		n += len(s.data) + 16
	}
	b := appendUleb(make([]byte, 0, n+5), uint64(len(segs)))
	for _, s := range segs {
		b = append(b, 0x00, 0x41)
		b = appendSleb(b, int64(int32(uint32(s.off))))
		b = append(b, 0x0b)
		b = appendUleb(b, uint64(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}

// sleb32 reads a signed LEB128 of at most 32 bits.
func (r *wreader) sleb32() int32 {
	var v int64
	var shift uint
	for {
		if shift >= 35 {
			r.fail("signed LEB128 longer than 32 bits")
			return 0
		}
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			if v < -1<<31 || v > 1<<31-1 {
				r.fail("signed LEB128 above 32 bits")
				return 0
			}
			return int32(v)
		}
	}
}

func appendUleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
