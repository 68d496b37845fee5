package market

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
)

// Bounds of the requester's live logs.
const (
	// LogKeep is how many bytes of lines the requester keeps of one job's
	// live logs; older lines are evicted (the stored streams in the
	// receipt are complete).
	LogKeep = 1 << 20
	// maxLogJobs bounds the jobs whose live logs are kept (the least
	// recently written are forgotten first).
	maxLogJobs = 64
	// maxLineBytes splits a line longer than this.
	maxLineBytes = 16 << 10
)

// LogLine is one line of a job's live logs, as the requester received it.
type LogLine struct {
	// Seq numbers the job's lines from 1, in the order received.
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"` // stdout or stderr
	// Line is the text without its newline; for a marker, the
	// bidding.DroppedMarker text.
	Line string `json:"line"`
	// Dropped, on a marker line, is how many bytes of the stream were
	// dropped before the next line (the executor's buffer or rate bound).
	Dropped  int64  `json:"dropped,omitempty"`
	Executor string `json:"executor,omitempty"`
}

// LogSnapshot is a job's live logs from a sequence number on.
type LogSnapshot struct {
	Lines []LogLine
	// Next is the Seq to ask for next.
	Next int64
	// Evicted counts lines asked for that were no longer kept.
	Evicted int64
	// Open is how many log streams of executors are still open.
	Open int
	// Changed is closed at the next change (a line, a stream that ends).
	Changed <-chan struct{}
}

// logBook holds the live logs of this node's jobs as requester, under its
// own lock.
type logBook struct {
	mu   sync.Mutex
	jobs map[string]*jobLog
	tick int64 // last-use clock for eviction
}

type jobLog struct {
	lines   []LogLine
	bytes   int
	next    int64 // Seq of the next line
	partial map[logKey][]byte
	open    int
	used    int64
	changed chan struct{}
}

type logKey struct {
	award  bidding.AwardID
	stream string
}

// get returns the job's log, created (evicting the least recently used
// beyond maxLogJobs) when create is set. The caller holds b.mu.
func (b *logBook) get(job string, create bool) *jobLog {
	if b.jobs == nil {
		b.jobs = map[string]*jobLog{}
	}
	l := b.jobs[job]
	if l == nil && create {
		if len(b.jobs) >= maxLogJobs {
			var oldest string
			var at int64 = -1
			for id, x := range b.jobs {
				if x.open == 0 && (at < 0 || x.used < at) {
					oldest, at = id, x.used
				}
			}
			if oldest != "" {
				delete(b.jobs, oldest)
			}
		}
		l = &jobLog{next: 1, partial: map[logKey][]byte{}, changed: make(chan struct{})}
		b.jobs[job] = l
	}
	if l != nil {
		b.tick++
		l.used = b.tick
	}
	return l
}

func (l *jobLog) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *jobLog) add(line LogLine) {
	line.Seq = l.next
	l.next++
	l.lines = append(l.lines, line)
	l.bytes += len(line.Line) + 64
	for l.bytes > LogKeep && len(l.lines) > 1 {
		l.bytes -= len(l.lines[0].Line) + 64
		l.lines[0] = LogLine{}
		l.lines = l.lines[1:]
	}
}

// write adds a Log's bytes: a marker first for dropped bytes, then its
// complete lines; an incomplete last line waits for the next Log.
func (b *logBook) write(job string, lg *bidding.Log, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.get(job, true)
	k := logKey{lg.AwardID, lg.Stream}
	exec := lg.Executor.String()
	if lg.Dropped > 0 {
		if p := l.partial[k]; len(p) > 0 { // the bytes dropped broke this line
			l.add(LogLine{Time: now, Stream: lg.Stream, Line: string(p), Executor: exec})
			delete(l.partial, k)
		}
		l.add(LogLine{Time: now, Stream: lg.Stream, Line: bidding.DroppedMarker(lg.Dropped), Dropped: lg.Dropped, Executor: exec})
	}
	buf := append(l.partial[k], lg.Data...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			if len(buf) <= maxLineBytes {
				break
			}
			i = maxLineBytes
			l.add(LogLine{Time: now, Stream: lg.Stream, Line: string(buf[:i]), Executor: exec})
			buf = buf[i:]
			continue
		}
		l.add(LogLine{Time: now, Stream: lg.Stream, Line: string(buf[:i]), Executor: exec})
		buf = buf[i+1:]
	}
	if len(buf) > 0 {
		l.partial[k] = append([]byte(nil), buf...)
	} else {
		delete(l.partial, k)
	}
	l.notify()
}

// opened and closed count the open log streams of a job; closed also ends
// the award's incomplete lines.
func (b *logBook) opened(job string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.get(job, true)
	l.open++
	l.notify()
}

func (b *logBook) closed(job string, award bidding.AwardID, exec peer.ID, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.get(job, true)
	l.open--
	for _, s := range logStreams {
		k := logKey{award, s}
		if p := l.partial[k]; len(p) > 0 {
			l.add(LogLine{Time: now, Stream: s, Line: string(p), Executor: exec.String()})
			delete(l.partial, k)
		}
	}
	l.notify()
}

// snapshot returns the job's lines from seq on; ok is false when the node
// has no live logs of the job.
func (b *logBook) snapshot(job string, seq int64, create bool) (LogSnapshot, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.get(job, create)
	if l == nil {
		return LogSnapshot{}, false
	}
	out := LogSnapshot{Next: l.next, Open: l.open, Changed: l.changed}
	first := l.next - int64(len(l.lines))
	if seq < first {
		out.Evicted = first - max(seq, 1)
		seq = first
	}
	if seq < l.next {
		out.Lines = append([]LogLine(nil), l.lines[seq-first:]...)
	}
	return out, true
}

// Logs returns the live logs this node received as requester of job, from
// line seq on (1: all it keeps); ok is false when it has none (not its
// job, nothing printed yet, or forgotten since: the receipt's stdout and
// stderr CIDs hold the full streams).
func (m *Market) Logs(job string, seq int64) (LogSnapshot, bool) {
	return m.logs.snapshot(job, seq, false)
}

// FollowLogs is Logs for a follower of a job in flight: it makes the job's
// (empty) log if there is none yet, so that Changed wakes the follower at
// the first line. The caller checked that job is one of this node's.
func (m *Market) FollowLogs(job string, seq int64) LogSnapshot {
	snap, _ := m.logs.snapshot(job, seq, true)
	return snap
}

// serveLogs serves ProtocolLogs: the Log messages of one award's run,
// accepted only from the executor of a current award of one of this
// node's jobs; anything else resets the stream.
func (m *Market) serveLogs(conn io.ReadWriteCloser, remote peer.ID) {
	defer conn.Close()
	var (
		award bidding.AwardID
		job   string
		seq   int64
	)
	// end closes the stream's log (its partial line becomes a line) before
	// a reset, so that a stream the peer opens next never extends it.
	end := func() {
		if job != "" {
			m.logs.closed(job, award, remote, time.Now())
			job = ""
		}
	}
	defer end()
	refuse := func(msg string, args ...any) {
		m.log.Debug(msg, append([]any{"peer", remote}, args...)...)
		end()
		reset(conn)
	}
	// The first Log is due at once (the executor dials when it has bytes);
	// later ones come when the program prints, and the executor closes the
	// stream when the run ended.
	deadline(conn, bidding.StreamTimeout)
	for {
		msg, _, err := recv(conn, bidding.MaxMessageSize, bidding.KindLog)
		if err != nil {
			if err != io.EOF {
				refuse("live logs refused", "err", err)
			}
			return
		}
		lg := msg.(*bidding.Log)
		switch {
		case lg.Signer() != remote:
			refuse("live logs signed by another peer", "signer", lg.Signer())
			return
		case job == "":
			if !m.currentAward(lg.JobCID.String(), lg.AwardID, remote) {
				refuse("live logs refused: not the executor of a current award", "job", lg.JobCID, "award", lg.AwardID)
				return
			}
			award, job = lg.AwardID, lg.JobCID.String()
			m.logs.opened(job)
			noReadDeadline(conn)
		case lg.AwardID != award || lg.JobCID.String() != job:
			refuse("live logs refused: another award on the stream", "award", lg.AwardID)
			return
		}
		if lg.Seq <= seq {
			refuse("live logs refused: sequence went back", "seq", lg.Seq, "after", seq)
			return
		}
		seq = lg.Seq
		m.logs.write(job, lg, time.Now())
	}
}

// currentAward reports whether award is a current award of this node's
// job, given to exec: offered or accepted, not ended.
func (m *Market) currentAward(job string, award bidding.AwardID, exec peer.ID) bool {
	j, err := m.jobs.Get(job)
	if err != nil || j.State.Terminal() {
		return false
	}
	aw := j.award(award.String())
	if aw == nil || aw.Executor != exec.String() {
		return false
	}
	switch bidding.Phase(aw.State) {
	case "offered", bidding.PhaseAccepted, bidding.PhaseFetching, bidding.PhaseRunning, bidding.PhasePublishing:
		return true
	}
	return false
}
