package bidding

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// sealedSamples returns valid encodings of every sample message, for seeds.
func sealedSamples(f *testing.F) map[Kind][][]byte {
	req, exe := newIdentity(f, 1), newIdentity(f, 2)
	out := map[Kind][][]byte{}
	for _, m := range sampleMessages(f, req, exe) {
		data, err := Seal(keyFor(m, req, exe), m)
		if err != nil {
			f.Fatal(err)
		}
		out[m.Kind()] = append(out[m.Kind()], data)
	}
	return out
}

// fuzzOpen checks an opener: it never panics, and whatever it accepts is
// canonical (Marshal gives the input back), of the right kind and verified.
func fuzzOpen(f *testing.F, kind Kind, open func([]byte) (Message, error)) {
	samples := sealedSamples(f)
	for _, s := range samples[kind] {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	// A seed of another kind, to explore the kind check.
	for k, s := range samples {
		if k != kind {
			f.Add(s[0])
			break
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := open(data)
		if err != nil {
			return
		}
		if kind != "" && m.Kind() != kind {
			t.Fatalf("opened a %s as %s", m.Kind(), kind)
		}
		again, err := Marshal(m)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted non-canonical bytes: %v", err)
		}
		if err := Verify(m); err != nil {
			t.Fatalf("accepted a message that does not verify: %v", err)
		}
	})
}

func FuzzOpenAnnounce(f *testing.F) {
	fuzzOpen(f, KindAnnounce, func(b []byte) (Message, error) { return OpenAnnounce(b) })
}

func FuzzOpenBid(f *testing.F) {
	fuzzOpen(f, KindBid, func(b []byte) (Message, error) { return OpenBid(b) })
}

func FuzzOpenDecline(f *testing.F) {
	fuzzOpen(f, KindDecline, func(b []byte) (Message, error) { return OpenDecline(b) })
}

func FuzzOpenAward(f *testing.F) {
	fuzzOpen(f, KindAward, func(b []byte) (Message, error) { return OpenAward(b) })
}

func FuzzOpenAccept(f *testing.F) {
	fuzzOpen(f, KindAccept, func(b []byte) (Message, error) { return OpenAccept(b) })
}

func FuzzOpenStatus(f *testing.F) {
	fuzzOpen(f, KindStatus, func(b []byte) (Message, error) { return OpenStatus(b) })
}

func FuzzDecodeReceipt(f *testing.F) {
	fuzzOpen(f, KindReceipt, func(b []byte) (Message, error) { return DecodeReceipt(b) })
}

func FuzzOpenCancel(f *testing.F) {
	fuzzOpen(f, KindCancel, func(b []byte) (Message, error) { return OpenCancel(b) })
}

func FuzzOpenQuery(f *testing.F) {
	fuzzOpen(f, KindQuery, func(b []byte) (Message, error) { return OpenQuery(b) })
}

func FuzzOpenLog(f *testing.F) {
	fuzzOpen(f, KindLog, func(b []byte) (Message, error) { return OpenLog(b) })
}

// FuzzOpen opens any kind, as a stream handler dispatching on the type does.
func FuzzOpen(f *testing.F) {
	fuzzOpen(f, "", func(b []byte) (Message, error) { return Open(b) })
}

// FuzzReadMsg checks the framing: no panic, never a frame over the limit,
// and a frame read back is what WriteMsg writes.
func FuzzReadMsg(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMsg(&buf, []byte("hello"))
	_ = WriteMsg(&buf, bytes.Repeat([]byte{7}, 300))
	f.Add(buf.Bytes(), 1024)
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f}, 0)
	f.Add([]byte{0x80, 0x00}, 16)
	f.Fuzz(func(t *testing.T, stream []byte, max int) {
		r := bytes.NewReader(stream)
		limit := max
		if limit <= 0 || limit > MaxFrameSize {
			limit = MaxFrameSize
		}
		for {
			frame, err := ReadMsg(r, max)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrFrame) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(frame) == 0 || len(frame) > limit {
				t.Fatalf("frame of %d bytes with limit %d", len(frame), limit)
			}
			var w bytes.Buffer
			if err := WriteMsg(&w, frame); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadMsg(&w, limit); err != nil {
				t.Fatalf("re-read: %v", err)
			}
		}
	})
}
