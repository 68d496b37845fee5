package wasm

import (
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// limitAllocator backs the linear memories of one run and refuses to grow
// them past the task's limit minus what the module's tables take. It
// records the largest refused size.
type limitAllocator struct {
	limit   uint64
	mmap    bool // reserve the limit with mmap (worker processes)
	refused atomic.Uint64
	// reserveErr is the error of an mmap that failed (the worker's address
	// space limit); set before the module runs.
	reserveErr error
}

var _ experimental.MemoryAllocator = (*limitAllocator)(nil)

func newLimitAllocator(limit, tableBytes int64) *limitAllocator {
	return &limitAllocator{limit: uint64(max(limit-tableBytes, 0)) / pageSize * pageSize}
}

// Allocate implements experimental.MemoryAllocator.
func (a *limitAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if a.mmap {
		// Reserve the whole limit once: the kernel hands out zero pages as
		// the module touches them, and growing never copies (a copy would
		// need twice the memory for a moment, past the worker's address
		// space limit). An mmap that fails leaves buf empty and every grow
		// refused.
		n := min(max, a.limit)
		if n == 0 {
			return &linearMemory{a: a, mapped: true}
		}
		b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			a.refuse(n)
			a.reserveErr = fmt.Errorf("reserving %d bytes for the module's memory: %w", n, err)
			return &linearMemory{a: a, mapped: true}
		}
		return &linearMemory{a: a, buf: b[:0], mapped: true}
	}
	return &linearMemory{a: a, buf: make([]byte, 0, min(capacity, a.limit))}
}

func (a *limitAllocator) refuse(size uint64) {
	for {
		old := a.refused.Load()
		if size <= old || a.refused.CompareAndSwap(old, size) {
			return
		}
	}
}

// exceeded returns the size of the largest refused grow, 0 if none.
func (a *limitAllocator) exceeded() uint64 { return a.refused.Load() }

type linearMemory struct {
	a      *limitAllocator
	buf    []byte
	mapped bool // buf is an mmap of cap(buf) bytes
}

// Reallocate implements experimental.LinearMemory. Returning nil makes
// memory.grow fail (-1) in the module.
//
// The bytes between len and cap are always zero: the module only writes
// below len and the memory never shrinks.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.a.limit || (m.mapped && size > uint64(cap(m.buf))) {
		m.a.refuse(size)
		return nil
	}
	if m.mapped {
		m.buf = m.buf[:size]
		return m.buf
	}
	if n := uint64(len(m.buf)); size > n {
		m.buf = append(m.buf, make([]byte, size-n)...)
	}
	return m.buf[:size]
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() {
	if m.mapped && cap(m.buf) > 0 {
		_ = unix.Munmap(m.buf[:cap(m.buf)])
	}
	m.buf = nil
}
