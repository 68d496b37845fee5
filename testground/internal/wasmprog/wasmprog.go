// Package wasmprog writes tiny WASI (preview 1) modules for simulation
// jobs, byte by byte: a module that sleeps for a fixed time (poll_oneoff
// on a relative clock, so it costs no CPU) and then writes a line to
// stdout. It is a few hundred bytes, so compiling it costs microseconds
// even when hundreds of simulated nodes each compile it once; a module
// built by the Go toolchain is about 2 MB and takes a second of CPU per
// node to compile.
package wasmprog

import (
	"encoding/binary"
	"time"
)

// Memory layout of the module (one 64 KiB page).
const (
	iovecAt    = 0   // {buf u32, len u32}
	nwrittenAt = 8   // fd_write result
	neventsAt  = 16  // poll_oneoff result
	subAt      = 64  // one clock subscription, 48 bytes
	eventAt    = 128 // one event, 32 bytes
	msgAt      = 256 // the message bytes
	maxMsg     = 60 << 10
)

// Module returns a WASI command module whose _start sleeps for sleep (when
// positive) and then writes msg to stdout. msg is cut to 60 KiB.
func Module(sleep time.Duration, msg string) []byte {
	if len(msg) > maxMsg {
		msg = msg[:maxMsg]
	}
	var m []byte
	m = append(m, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00) // \0asm, version 1

	// Type section: 0 = (i32 i32 i32 i32) -> i32, 1 = () -> ().
	types := vec(2,
		[]byte{0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f},
		[]byte{0x60, 0x00, 0x00},
	)
	m = section(m, 1, types)

	// Import section: fd_write (func 0) and poll_oneoff (func 1), both type 0.
	imp := func(field string) []byte {
		var b []byte
		b = append(b, name("wasi_snapshot_preview1")...)
		b = append(b, name(field)...)
		return append(b, 0x00, 0x00) // kind func, type 0
	}
	m = section(m, 2, vec(2, imp("fd_write"), imp("poll_oneoff")))

	// Function section: one function (index 2) of type 1.
	m = section(m, 3, vec(1, []byte{0x01}))

	// Memory section: one memory, min 1 page, no max.
	m = section(m, 5, vec(1, []byte{0x00, 0x01}))

	// Export section: "memory" and "_start".
	m = section(m, 7, vec(2,
		append(name("memory"), 0x02, 0x00),
		append(name("_start"), 0x00, 0x02),
	))

	// Code section.
	var body []byte
	body = append(body, 0x00) // no locals
	if sleep > 0 {
		body = append(body, i32(subAt)...)
		body = append(body, i32(eventAt)...)
		body = append(body, i32(1)...)
		body = append(body, i32(neventsAt)...)
		body = append(body, 0x10, 0x01, 0x1a) // call poll_oneoff; drop
	}
	body = append(body, i32(1)...) // stdout
	body = append(body, i32(iovecAt)...)
	body = append(body, i32(1)...)
	body = append(body, i32(nwrittenAt)...)
	body = append(body, 0x10, 0x00, 0x1a, 0x0b) // call fd_write; drop; end
	m = section(m, 10, vec(1, append(uleb(uint64(len(body))), body...)))

	// Data section: the iovec, the subscription and the message.
	iov := make([]byte, 8)
	binary.LittleEndian.PutUint32(iov[0:], msgAt)
	binary.LittleEndian.PutUint32(iov[4:], uint32(len(msg)))
	sub := make([]byte, 48)
	// userdata 0; tag 0 (clock) at 8; clock id 1 (monotonic) at 16;
	// timeout at 24; precision 0 at 32; flags 0 (relative) at 40.
	binary.LittleEndian.PutUint32(sub[16:], 1)
	binary.LittleEndian.PutUint64(sub[24:], uint64(max(sleep, 0)))
	m = section(m, 11, vec(3,
		segment(iovecAt, iov),
		segment(subAt, sub),
		segment(msgAt, []byte(msg)),
	))
	return m
}

func section(m []byte, id byte, content []byte) []byte {
	m = append(m, id)
	m = append(m, uleb(uint64(len(content)))...)
	return append(m, content...)
}

func vec(n int, items ...[]byte) []byte {
	b := uleb(uint64(n))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func segment(at int32, data []byte) []byte {
	b := []byte{0x00} // active, memory 0
	b = append(b, i32(at)...)
	b = append(b, 0x0b)
	b = append(b, uleb(uint64(len(data)))...)
	return append(b, data...)
}

// i32 is the instruction i32.const v.
func i32(v int32) []byte { return append([]byte{0x41}, sleb(int64(v))...) }

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}
