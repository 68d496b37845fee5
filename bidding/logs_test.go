package bidding

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
)

func TestLogChecks(t *testing.T) {
	req, exe := newIdentity(t, 1), newIdentity(t, 2)
	_, _, job := testSpec(t)
	award := NewAwardID()
	valid := func() *Log {
		return &Log{Version: WireVersion, AwardID: award, JobCID: job, Executor: exe.id, Seq: 1, Stream: LogStdout, Data: []byte("hi\n"), Time: t0}
	}
	for _, c := range []struct {
		name string
		edit func(*Log)
		want error
	}{
		{"valid", func(*Log) {}, nil},
		{"only a dropped count", func(l *Log) { l.Data, l.Dropped = nil, 10 }, nil},
		{"data over MaxLogData", func(l *Log) { l.Data = bytes.Repeat([]byte{'x'}, MaxLogData+1) }, ErrInvalid},
		{"unknown stream", func(l *Log) { l.Stream = "stdin" }, ErrInvalid},
		{"empty", func(l *Log) { l.Data = nil }, ErrInvalid},
		{"negative dropped", func(l *Log) { l.Dropped = -1 }, ErrInvalid},
		{"seq 0", func(l *Log) { l.Seq = 0 }, ErrInvalid},
		{"no award", func(l *Log) { l.AwardID = AwardID{} }, ErrInvalid},
		{"not a job ID", func(l *Log) { l.JobCID = cid.MustParse(testInput2) }, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := valid()
			c.edit(l)
			data, err := Seal(exe.key, l)
			if err == nil {
				_, err = OpenLog(data)
			}
			if !errors.Is(err, c.want) && (c.want != nil || err != nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	t.Run("signed by the requester", func(t *testing.T) {
		if _, err := Seal(req.key, valid()); !errors.Is(err, ErrSignerMismatch) {
			t.Fatalf("err = %v, want ErrSignerMismatch", err)
		}
	})
	t.Run("oversized frame refused before decoding", func(t *testing.T) {
		big := make([]byte, MaxMessageSize+1)
		if _, err := OpenLog(big); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
}
