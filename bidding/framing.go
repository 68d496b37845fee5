package bidding

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrFrame is wrapped by ReadMsg's errors for a bad length prefix.
var ErrFrame = errors.New("bidding: bad frame")

// WriteMsg writes one frame: the length of data as an unsigned varint, then
// data, in one Write. Empty frames and frames longer than MaxFrameSize are
// refused.
func WriteMsg(w io.Writer, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("write frame: %w: empty frame", ErrFrame)
	}
	if len(data) > MaxFrameSize {
		return fmt.Errorf("write frame: %w: %d bytes, limit %d", ErrTooLarge, len(data), MaxFrameSize)
	}
	buf := make([]byte, binary.MaxVarintLen64, binary.MaxVarintLen64+len(data))
	n := binary.PutUvarint(buf, uint64(len(data)))
	buf = append(buf[:n], data...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// ReadMsg reads one frame written by WriteMsg. A length above max (or
// MaxFrameSize) is refused before anything is allocated; the varint must be
// minimal and non-zero. It reads exactly the frame's bytes, so several
// frames can follow each other on a stream. io.EOF is returned unwrapped
// when the stream ends cleanly before a frame.
func ReadMsg(r io.Reader, max int) ([]byte, error) {
	if max <= 0 || max > MaxFrameSize {
		max = MaxFrameSize
	}
	var (
		length uint64
		one    [1]byte
	)
	for i := 0; ; i++ {
		if i == 3 { // 3 varint bytes hold 2^21 > MaxFrameSize
			return nil, fmt.Errorf("read frame: %w: length prefix too long", ErrFrame)
		}
		if _, err := io.ReadFull(r, one[:]); err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("read frame: %w", noEOF(err))
		}
		b := one[0]
		length |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if b == 0 && i > 0 {
				return nil, fmt.Errorf("read frame: %w: non-minimal length prefix", ErrFrame)
			}
			break
		}
	}
	if length == 0 {
		return nil, fmt.Errorf("read frame: %w: empty frame", ErrFrame)
	}
	if length > uint64(max) {
		return nil, fmt.Errorf("read frame: %w: %d bytes, limit %d", ErrTooLarge, length, max)
	}
	data := make([]byte, length)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("read frame: %w", noEOF(err))
	}
	return data, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
