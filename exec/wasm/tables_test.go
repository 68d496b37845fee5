package wasm_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/exec"
	"github.com/shoalnet/shoal/exec/wasm"
)

// tableGrowModule grows a table without a maximum by 2^25 entries: 256 MiB
// of host memory that the linear-memory limit never saw.
var tableGrowModule = module(funcs(1), tableSection(1, -1), exportStart,
	code(cat([]byte{0x00}, // no locals
		[]byte{0xd0, 0x70},        // ref.null func
		[]byte{0x41}, sleb(1<<25), // i32.const 2^25
		[]byte{0xfc, 0x0f, 0x00}, // table.grow 0
		[]byte{0x1a},             // drop
	)))

func TestTableGrowRefused(t *testing.T) {
	x := newExecutor(t)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := x.Run(context.Background(), &exec.Task{ID: "grow", WASM: &exec.WASMSpec{Module: tableGrowModule},
		Limits: exec.Limits{MemoryBytes: 64 << 10}})
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("Run = %+v, %v; allocated %d KiB", res, err, (after.TotalAlloc-before.TotalAlloc)>>10)
	if !errors.Is(err, exec.ErrInvalidModule) || res != nil {
		t.Fatalf("a module using table.grow ran: want nil and ErrInvalidModule")
	}
	if !strings.Contains(err.Error(), "reference-types") || !strings.Contains(err.Error(), "table.grow") {
		t.Errorf("error %q does not say that reference types (table.grow) are refused", err)
	}
}

func TestTablesCountAgainstMemoryLimit(t *testing.T) {
	x := newExecutor(t)
	empty := code([]byte{0x00})
	for _, c := range []struct {
		name    string
		min     uint64
		max     int64
		limit   int64
		wantErr error
	}{
		{"fits", 1000, -1, 1 << 20, nil},
		{"fits with a max", 1000, 1 << 30, 1 << 20, nil},
		{"tables above the limit", wasm.MaxTableEntries, -1, 4 << 20, exec.ErrMemoryLimit}, // 8 MiB of table
		{"above the table bound", wasm.MaxTableEntries + 1, -1, 1 << 30, exec.ErrInvalidModule},
		{"huge min", 10_000_000, -1, 1 << 30, exec.ErrInvalidModule},
	} {
		t.Run(c.name, func(t *testing.T) {
			mod := module(funcs(1), tableSection(c.min, c.max), exportStart, empty)
			res, err := x.Run(context.Background(), &exec.Task{ID: "table", WASM: &exec.WASMSpec{Module: mod},
				Limits: exec.Limits{MemoryBytes: c.limit}})
			if c.wantErr == nil {
				if err != nil || res.ExitCode != 0 {
					t.Fatalf("Run = %+v, %v; want exit 0", res, err)
				}
				return
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Run = %+v, %v; want an error wrapping %v", res, err, c.wantErr)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestDeepRecursionBounded measures what infinite recursion allocates
// before its stack-overflow trap. wazero's compiler keeps the wasm stack in
// a Go slice that doubles until it passes a fixed ceiling of 50,000,000
// bytes (callStackCeiling in internal/engine/wazevo, a constant), so the
// allocation is bounded but not configurable: about 100 MB for the last
// stack plus the copies on the way.
func TestDeepRecursionBounded(t *testing.T) {
	x := newExecutor(t)
	// func 0 (_start) calls func 1; func 1 has 64 i64 locals and calls itself.
	mod := module(funcs(2), exportStart, code(
		[]byte{0x00, 0x10, 0x01},             // call 1
		[]byte{0x01, 0x40, 0x7e, 0x10, 0x01}, // (local i64 x64) call 1
	))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := x.Run(context.Background(), &exec.Task{ID: "recurse", WASM: &exec.WASMSpec{Module: mod},
		Limits: exec.Limits{MemoryBytes: 64 << 10}})
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if err != nil || res.ExitCode != wasm.ExitCodeTrap || !strings.Contains(string(res.Stderr), "stack overflow") {
		t.Fatalf("Run = %+v, %v; want a stack overflow trap", res, err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("infinite recursion allocated %d MiB before its trap (heap sys %d -> %d MiB)",
		alloc>>20, before.HeapSys>>20, after.HeapSys>>20)
	if alloc > wasm.CallStackMaxBytes {
		t.Errorf("recursion allocated %d bytes, more than the documented bound of %d", alloc, wasm.CallStackMaxBytes)
	}
}

func FuzzTableEntries(f *testing.F) {
	f.Add(tableGrowModule)
	f.Add(module(funcs(1), tableSection(10, 20), exportStart, code([]byte{0x00})))
	f.Add(trapModule)
	f.Add(bigMemoryModule)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := wasm.TableEntries(b)
		if err == nil && n > 1<<40 {
			t.Fatalf("%d entries from %d bytes", n, len(b))
		}
	})
}
