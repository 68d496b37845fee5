package bidding

import (
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Log streams of a running job.
const (
	LogStdout = "stdout"
	LogStderr = "stderr"
)

// Limits of live logs (ProtocolLogs); docs/protocol.md explains each.
const (
	// MaxLogData bounds the bytes of a stream one Log carries, so that a
	// Log with its envelope stays under MaxMessageSize.
	MaxLogData = 2 << 10
	// LogBuffer is what an executor holds of one job's streams for the
	// requester (both streams together): bytes written while it is full
	// are dropped and counted, never waited for.
	LogBuffer = 256 << 10
	// LogRate is the most bytes of one job's streams an executor sends per
	// second, after a burst of LogBuffer; the rest waits in the buffer or
	// is dropped.
	LogRate = 256 << 10
	// LogDrain is how long an executor keeps sending the buffered logs of
	// a run that ended, before it drops the rest.
	LogDrain = 2 * time.Second
	// MaxLogDropped bounds a Log's dropped count (a run cannot write more
	// through an engine that keeps a few MiB; the bound only keeps the
	// number sane).
	MaxLogDropped = 1 << 50
)

// Log carries bytes of a running job's stdout or stderr, in order, from
// the executor of an award to its requester, on ProtocolLogs. Dropped
// counts the bytes of the stream dropped (buffer full or rate exceeded)
// since the previous Log of that stream, just before Data; the requester
// shows them as a marker line. Signed by Executor. At most MaxMessageSize
// bytes.
type Log struct {
	Version  int
	AwardID  AwardID
	JobCID   cid.Cid
	Executor peer.ID
	// Seq starts at 1 and increases by one with every Log of the award.
	Seq     int64
	Stream  string // LogStdout or LogStderr
	Data    []byte // at most MaxLogData bytes
	Dropped int64
	Time    time.Time
	Sig     []byte
}

// Kind implements Message.
func (l *Log) Kind() Kind { return KindLog }

// Signer implements Message: the executor.
func (l *Log) Signer() peer.ID { return l.Executor }

func (l *Log) fields() (*int, *[]byte) { return &l.Version, &l.Sig }
func (l *Log) role() string            { return "executor" }
func (l *Log) limit() int              { return MaxMessageSize }

func (l *Log) encode(m *dag.Map) {
	putAwardID(m, "award", l.AwardID)
	m.Link("job", l.JobCID)
	putPeer(m, "executor", l.Executor)
	m.Int("seq", l.Seq)
	m.Str("stream", l.Stream)
	m.Bytes("data", l.Data)
	m.Int("dropped", l.Dropped)
	putTime(m, "time", l.Time)
}

func (l *Log) decode(r *dag.Reader) {
	l.AwardID = getAwardID(r, "award")
	l.JobCID = r.Link("job")
	l.Executor = getPeer(r, "executor")
	l.Seq = r.Int("seq")
	l.Stream = r.Str("stream")
	l.Data = r.Bytes("data")
	l.Dropped = r.Int("dropped")
	l.Time = getTime(r, "time")
}

func (l *Log) check(c *checker) {
	c.awardID("award", l.AwardID)
	c.jobCID("job", l.JobCID)
	c.peer("executor", l.Executor)
	if l.Seq < 1 {
		c.failf("seq", "%d: must be at least 1", l.Seq)
	}
	if l.Stream != LogStdout && l.Stream != LogStderr {
		c.failf("stream", "%q: one of stdout, stderr", l.Stream)
	}
	if len(l.Data) > MaxLogData {
		c.failf("data", "%d bytes, limit %d", len(l.Data), MaxLogData)
	}
	if l.Dropped < 0 || l.Dropped > MaxLogDropped {
		c.failf("dropped", "%d out of range [0, %d]", l.Dropped, int64(MaxLogDropped))
	}
	if len(l.Data) == 0 && l.Dropped == 0 {
		c.failf("data", "a log carries data or a dropped count")
	}
	c.time("time", l.Time)
}

// OpenLog opens data as a Log (see Open).
func OpenLog(data []byte) (*Log, error) { return openAs[*Log](data, KindLog) }

// DroppedMarker is the line that stands for n dropped bytes of a stream.
func DroppedMarker(n int64) string { return fmt.Sprintf("[shoal: %d bytes dropped]", n) }
