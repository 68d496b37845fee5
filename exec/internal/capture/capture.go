// Package capture keeps the first bytes of a program's output stream up to
// a cap and drops the rest without ever blocking the writer. It is shared
// by the exec engines and is not API.
package capture

import (
	"io"
	"sync"
)

// Buffer is an io.Writer that keeps at most its limit in bytes. It is safe for
// concurrent use.
type Buffer struct {
	mu        sync.Mutex
	buf       []byte
	limit     int64
	written   int64
	truncated bool
	tap       io.Writer
}

// New returns a Buffer keeping at most limit bytes (limit <= 0 keeps none).
func New(limit int64) *Buffer {
	return &Buffer{limit: max(limit, 0)}
}

// NewTapped is New whose Write and Append also copy every byte to tap (nil:
// none), cap or not; tap must not block (see exec.Task.StdoutTap).
func NewTapped(limit int64, tap io.Writer) *Buffer {
	b := New(limit)
	b.tap = tap
	return b
}

// Write keeps what fits under the cap and reports every byte as written,
// so the program is never blocked or failed by the cap.
func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tap != nil && n > 0 {
		_, _ = b.tap.Write(p)
	}
	b.written += int64(n)
	room := b.limit - int64(len(b.buf))
	if int64(n) > room {
		b.truncated = true
		p = p[:max(room, 0)]
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// Append adds p after the kept bytes even past the cap. Engines use it for
// their own diagnostics (a trap message) that must not be lost.
func (b *Buffer) Append(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tap != nil && len(p) > 0 {
		_, _ = b.tap.Write(p)
	}
	b.buf = append(b.buf, p...)
}

// Bytes returns a copy of the kept bytes (nil when none).
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) == 0 {
		return nil
	}
	return append([]byte(nil), b.buf...)
}

// Truncated reports whether bytes were dropped.
func (b *Buffer) Truncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.truncated
}

// Written returns how many bytes were written in all, kept or not.
func (b *Buffer) Written() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.written
}
