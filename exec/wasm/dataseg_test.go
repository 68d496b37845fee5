package wasm

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/shoalnet/shoal/exec/internal/testprog"
)

// memoryAfterInstantiate instantiates code (its start functions not run)
// and returns its memory's bytes.
func memoryAfterInstantiate(t *testing.T, code []byte) []byte {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	m, err := rt.InstantiateWithConfig(ctx, code, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	mem := m.Memory()
	b, ok := mem.Read(0, mem.Size())
	if !ok {
		t.Fatal("read memory")
	}
	return bytes.Clone(b)
}

func segmentCount(t *testing.T, code []byte) int {
	t.Helper()
	r := &wreader{b: code}
	r.bytes(8)
	for !r.done() {
		id, size := r.byte(), r.u32()
		body := r.bytes(int(size))
		if id == 11 {
			return int((&wreader{b: body}).u32())
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return 0
}

// TestCoalesceDataGoModule: a Go module's 30,000 segments become a few
// hundred, and its memory after instantiation is the same byte for byte.
func TestCoalesceDataGoModule(t *testing.T) {
	code, err := os.ReadFile(testprog.Build(t, "github.com/shoalnet/shoal/examples/hello", "wasip1", "wasm"))
	if err != nil {
		t.Fatal(err)
	}
	out := coalesceData(code)
	before, after := segmentCount(t, code), segmentCount(t, out)
	t.Logf("data segments: %d -> %d; module %d -> %d bytes", before, after, len(code), len(out))
	if after*10 > before {
		t.Fatalf("%d segments left of %d", after, before)
	}
	if !bytes.Equal(memoryAfterInstantiate(t, code), memoryAfterInstantiate(t, out)) {
		t.Fatal("the memory after instantiation differs")
	}
}

// module builds a module with one memory of a page and the given data
// section body (nil: none) and extra sections appended.
func module(data []byte, extra ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 5, 3, 1, 0, 1) // memory section: one memory, min 1 page
	for _, e := range extra {
		b = append(b, e...)
	}
	if data != nil {
		b = append(b, 11)
		b = appendUleb(b, uint64(len(data)))
		b = append(b, data...)
	}
	return b
}

// segments encodes active memory-0 segments at the given offsets.
func segments(segs ...dataSegment) []byte {
	return encodeSegments(segs)
}

func TestCoalesceDataConditions(t *testing.T) {
	seg := func(off uint64, s string) dataSegment { return dataSegment{off: off, data: []byte(s)} }
	passive := append(appendUleb(nil, 2), 0x00, 0x41, 0x00, 0x0b, 1, 'a', 0x01, 1, 'b')
	for _, c := range []struct {
		name   string
		code   []byte
		merged int // segments after, 0: unchanged
	}{
		{"adjacent and close", module(segments(seg(0, "ab"), seg(2, "cd"), seg(10, "ef"))), 1},
		{"a gap past the bound", module(segments(seg(0, "ab"), seg(2+mergeGap+1, "cd"), seg(2+mergeGap+3, "x"))), 2},
		{"out of order", module(segments(seg(10, "ab"), seg(0, "cd"))), 1},
		{"overlapping", module(segments(seg(0, "abcd"), seg(2, "xy"))), 0},
		{"overlapping out of order", module(segments(seg(2, "xy"), seg(0, "abcd"))), 0},
		{"a passive segment", module(passive), 0},
		{"a data count section", module(segments(seg(0, "ab"), seg(2, "cd")), []byte{12, 1, 2}), 0},
		{"one segment", module(segments(seg(0, "ab"))), 0},
		{"no data", module(nil), 0},
		{"past the memory", module(segments(seg(0, "ab"), seg(1<<16-1, "cd"))), 0},
		{"truncated", module(segments(seg(0, "ab"), seg(2, "cd")))[:20], 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := bytes.Clone(c.code)
			out := coalesceData(c.code)
			if !bytes.Equal(c.code, in) {
				t.Fatal("the module's bytes were written to")
			}
			if c.merged == 0 {
				if !bytes.Equal(out, c.code) {
					t.Fatal("module rewritten; want it unchanged")
				}
				return
			}
			if n := segmentCount(t, out); n != c.merged {
				t.Fatalf("%d segments, want %d", n, c.merged)
			}
			if !bytes.Equal(memoryAfterInstantiate(t, c.code), memoryAfterInstantiate(t, out)) {
				t.Fatal("the memory after instantiation differs")
			}
		})
	}
}

func TestSleb32RoundTrip(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1 << 20, -1 << 31, 1<<31 - 1} {
		r := &wreader{b: appendSleb(nil, int64(v))}
		if got := r.sleb32(); got != v || r.err != nil || !r.done() {
			t.Errorf("sleb32(appendSleb(%d)) = %d, %v", v, got, r.err)
		}
	}
}

func BenchmarkCoalesceData(b *testing.B) {
	code, err := os.ReadFile(testprog.Build(b, "github.com/shoalnet/shoal/examples/hello", "wasip1", "wasm"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(code)))
	for b.Loop() {
		coalesceData(code)
	}
}
