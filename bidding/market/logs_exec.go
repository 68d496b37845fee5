package market

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/shoalnet/shoal/bidding"
)

// logTap is the live log of one run on the executor: the engine's taps
// write into it without ever waiting (what does not fit in
// bidding.LogBuffer is dropped and counted), and one sender drains it to
// the award's requester at bidding.LogRate at most. The full streams go in
// the receipt regardless.
type logTap struct {
	mu      sync.Mutex
	chunks  []logChunk
	size    int      // bytes in chunks
	dropped [2]int64 // per stream, dropped since its last chunk
	closed  bool
	drainBy time.Time
	wake    chan struct{} // cap 1: something to send, or closed
	done    chan struct{} // closed when the sender ended
}

// logChunk is bytes of one stream, after dropped bytes of it.
type logChunk struct {
	stream  int // 0 stdout, 1 stderr
	data    []byte
	dropped int64
}

var logStreams = [2]string{bidding.LogStdout, bidding.LogStderr}

func newLogTap() *logTap {
	return &logTap{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// writer is the tap of one stream (0 stdout, 1 stderr).
func (l *logTap) writer(stream int) io.Writer { return tapWriter{l, stream} }

type tapWriter struct {
	l      *logTap
	stream int
}

// Write keeps what fits in the buffer, counts the rest, and never blocks
// beyond the lock.
func (w tapWriter) Write(p []byte) (int, error) {
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return len(p), nil
	}
	keep := min(len(p), bidding.LogBuffer-l.size)
	for rest := p[:keep]; len(rest) > 0; {
		var c *logChunk
		if n := len(l.chunks); n > 0 && l.chunks[n-1].stream == w.stream && len(l.chunks[n-1].data) < bidding.MaxLogData && l.dropped[w.stream] == 0 {
			c = &l.chunks[n-1]
		} else {
			l.chunks = append(l.chunks, logChunk{stream: w.stream, dropped: l.dropped[w.stream]})
			l.dropped[w.stream] = 0
			c = &l.chunks[len(l.chunks)-1]
		}
		k := min(len(rest), bidding.MaxLogData-len(c.data))
		c.data = append(c.data, rest[:k]...)
		rest = rest[k:]
	}
	l.size += keep
	l.dropped[w.stream] += int64(len(p) - keep)
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// close ends the run's writes: what is buffered is sent until
// bidding.LogDrain from now, the rest dropped.
func (l *logTap) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.drainBy = time.Now().Add(bidding.LogDrain)
	for s, n := range l.dropped { // the last drops get a marker too
		if n > 0 {
			l.chunks = append(l.chunks, logChunk{stream: s, dropped: n})
			l.dropped[s] = 0
		}
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// next waits for the next chunk; false once the tap is closed and empty,
// its drain time passed, or ctx ended.
func (l *logTap) next(ctx context.Context) (logChunk, bool) {
	for {
		l.mu.Lock()
		if l.closed && (len(l.chunks) == 0 || time.Now().After(l.drainBy)) {
			l.mu.Unlock()
			return logChunk{}, false
		}
		if len(l.chunks) > 0 {
			c := l.chunks[0]
			l.chunks = l.chunks[1:]
			l.size -= len(c.data)
			l.mu.Unlock()
			return c, true
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-ctx.Done():
			return logChunk{}, false
		}
	}
}

// deadline is when the sender must stop waiting: the drain time once
// closed, else zero.
func (l *logTap) deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.drainBy
}

// discard drops what is buffered and closes the tap (the requester is
// unreachable: the receipt still has the streams).
func (l *logTap) discard() {
	l.mu.Lock()
	l.closed = true
	l.chunks, l.size = nil, 0
	l.mu.Unlock()
}

// wait blocks until the sender ended (it ends by LogDrain after close).
func (l *logTap) wait() { <-l.done }

// rateGate spaces sends to at most rate bytes per second after a burst.
type rateGate struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// take waits until n bytes may be sent; false when ctx ends or by passes
// first (zero by: no bound).
func (g *rateGate) take(ctx context.Context, n int, by time.Time) bool {
	now := time.Now()
	g.tokens = min(g.burst, g.tokens+now.Sub(g.last).Seconds()*g.rate)
	g.last = now
	g.tokens -= float64(n)
	if g.tokens >= 0 {
		return true
	}
	wait := time.Duration(-g.tokens / g.rate * float64(time.Second))
	if !by.IsZero() && now.Add(wait).After(by) {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// startLogs starts the live log of a run of e: the taps to give the
// engine and the sender that streams them to the requester over
// ProtocolLogs (dialled at the first bytes).
func (ex *executor) startLogs(e *execution) *logTap {
	l := newLogTap()
	ex.wg.Add(1)
	go func() {
		defer ex.wg.Done()
		defer close(l.done)
		ex.sendLogs(e, l)
	}()
	return l
}

func (ex *executor) sendLogs(e *execution, l *logTap) {
	ctx := ex.ctx
	var conn io.ReadWriteCloser
	defer func() {
		if conn != nil {
			closeWrite(conn)
			_ = conn.Close()
		}
	}()
	gate := &rateGate{rate: bidding.LogRate, burst: bidding.LogBuffer, tokens: bidding.LogBuffer, last: time.Now()}
	var seq int64
	for {
		c, ok := l.next(ctx)
		if !ok {
			return
		}
		if conn == nil {
			var err error
			if conn, err = ex.link.dial(ctx, e.award.Requester, bidding.ProtocolLogs); err != nil {
				ex.log.Debug("live logs not delivered", "award", e.rec.ID, "err", err)
				l.discard()
				return
			}
		}
		if !gate.take(ctx, len(c.data), l.deadline()) {
			l.discard()
			return
		}
		seq++
		msg := &bidding.Log{Version: bidding.WireVersion, AwardID: e.award.AwardID, JobCID: e.award.JobCID, Executor: ex.self,
			Seq: seq, Stream: logStreams[c.stream], Data: c.data, Dropped: c.dropped, Time: ex.now()}
		writeDeadline(conn, bidding.StreamTimeout)
		if err := ex.link.send(conn, msg); err != nil {
			ex.log.Debug("live logs broke off", "award", e.rec.ID, "err", err)
			l.discard()
			return
		}
	}
}
