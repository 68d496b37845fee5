package wasm

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// limitAllocator backs the linear memories of one run and refuses to grow
// them past the task's limit minus what the module's tables take. It
// records the largest refused size.
type limitAllocator struct {
	limit   uint64
	refused atomic.Uint64
}

var _ experimental.MemoryAllocator = (*limitAllocator)(nil)

func newLimitAllocator(limit, tableBytes int64) *limitAllocator {
	return &limitAllocator{limit: uint64(max(limit-tableBytes, 0)) / pageSize * pageSize}
}

// Allocate implements experimental.MemoryAllocator.
func (a *limitAllocator) Allocate(capacity, _ uint64) experimental.LinearMemory {
	return &linearMemory{a: a, buf: make([]byte, 0, min(capacity, a.limit))}
}

// exceeded returns the size of the largest refused grow, 0 if none.
func (a *limitAllocator) exceeded() uint64 { return a.refused.Load() }

type linearMemory struct {
	a   *limitAllocator
	buf []byte
}

// Reallocate implements experimental.LinearMemory. Returning nil makes
// memory.grow fail (-1) in the module.
//
// The bytes between len and cap are always zero: the module only writes
// below len and the memory never shrinks.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.a.limit {
		for {
			old := m.a.refused.Load()
			if size <= old || m.a.refused.CompareAndSwap(old, size) {
				break
			}
		}
		return nil
	}
	if n := uint64(len(m.buf)); size > n {
		m.buf = append(m.buf, make([]byte, size-n)...)
	}
	return m.buf[:size]
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() { m.buf = nil }
