package bidding

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestFramingRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{{1}, bytes.Repeat([]byte{2}, 127), bytes.Repeat([]byte{3}, 128), bytes.Repeat([]byte{4}, MaxFrameSize)}
	for _, m := range msgs {
		if err := WriteMsg(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	// A reader returning one byte at a time must work: ReadMsg reads exactly
	// one frame and never past it.
	r := iotest.OneByteReader(&buf)
	for i, want := range msgs {
		got, err := ReadMsg(r, MaxFrameSize)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if _, err := ReadMsg(r, 0); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// countingReader counts bytes handed out, to show that an oversize length is
// refused before the body is read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadMsgErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		max   int
		want  error
	}{
		{"over caller limit", append([]byte{0x81, 0x01}, make([]byte, 129)...), 128, ErrTooLarge},
		{"over frame limit", []byte{0xff, 0xff, 0x7f}, 0, ErrTooLarge},
		{"claims a gigabyte", []byte{0x80, 0x80, 0x80, 0x80, 0x04}, 0, ErrFrame},
		{"non-minimal varint", []byte{0x81, 0x00, 0x01}, 0, ErrFrame},
		{"empty frame", []byte{0x00}, 0, ErrFrame},
		{"truncated body", []byte{0x05, 1, 2}, 0, io.ErrUnexpectedEOF},
		{"truncated prefix", []byte{0x80}, 0, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(tt.input)}
			_, err := ReadMsg(cr, tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadMsg: %v, want %v", err, tt.want)
			}
			if errors.Is(err, ErrTooLarge) && cr.n > 3 {
				t.Fatalf("read %d bytes before refusing an oversize frame", cr.n)
			}
		})
	}
}

func TestWriteMsgRefuses(t *testing.T) {
	if err := WriteMsg(io.Discard, make([]byte, MaxFrameSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	if err := WriteMsg(io.Discard, nil); !errors.Is(err, ErrFrame) {
		t.Fatalf("empty: %v", err)
	}
	if err := WriteMsg(failWriter{}, []byte{1}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("failing writer: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
